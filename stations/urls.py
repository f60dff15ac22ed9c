"""Routes of the station management API."""

from evpower.api.routes import api_path
from stations import api

# Station ids and id tags may hold `: # + .` (percent-encoded in the path).
STATION = r"(?P<station_id>[^/]+)"
ID_TAG = r"(?P<id_tag>[^/]+)"

urlpatterns = [
    api_path("ocpp/stations", api.StationListView.as_view(), "station-list"),
    api_path(f"ocpp/stations/{STATION}", api.StationDetailView.as_view(), "station-detail"),
    api_path("ocpp/id_tags", api.IdTagListView.as_view(), "id-tag-list"),
    api_path(f"ocpp/id_tags/{ID_TAG}", api.IdTagDetailView.as_view(), "id-tag-detail"),
    api_path("ocpp/messages", api.MessageListView.as_view(), "message-list"),
]
