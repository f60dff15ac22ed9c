"""Routes of the station management API: stations, id tags, the message log,
reservations, charging profiles, local lists."""

from evpower.api.routes import api_path
from stations import api, charging_profiles_api, history_api, local_lists_api, reservations_api

# Station ids and id tags may hold `: # + .` (percent-encoded in the path).
STATION = r"(?P<station_id>[^/]+)"
ID_TAG = r"(?P<id_tag>[^/]+)"

urlpatterns = [
    api_path("ocpp/stations", api.StationListView.as_view(), "station-list"),
    api_path(f"ocpp/stations/{STATION}", api.StationDetailView.as_view(), "station-detail"),
    api_path(f"ocpp/stations/{STATION}/events", history_api.StationEventListView.as_view(), "station-events"),
    api_path(
        f"ocpp/stations/{STATION}/violations",
        history_api.ProtocolViolationListView.as_view(),
        "station-violations",
    ),
    api_path("ocpp/id_tags", api.IdTagListView.as_view(), "id-tag-list"),
    api_path(f"ocpp/id_tags/{ID_TAG}", api.IdTagDetailView.as_view(), "id-tag-detail"),
    api_path("ocpp/messages", api.MessageListView.as_view(), "message-list"),
    api_path("ocpp/reservations", reservations_api.ReservationListView.as_view(), "reservation-list"),
    api_path(
        r"ocpp/reservations/(?P<pk>[0-9]+)",
        reservations_api.ReservationDetailView.as_view(),
        "reservation-detail",
    ),
    api_path(
        r"ocpp/reservations/(?P<pk>[0-9]+)/cancel",
        reservations_api.ReservationCancelView.as_view(),
        "reservation-cancel",
    ),
    api_path(
        "ocpp/charging_profiles",
        charging_profiles_api.ChargingProfileListView.as_view(),
        "charging-profile-list",
    ),
    api_path(
        r"ocpp/charging_profiles/(?P<pk>[0-9]+)",
        charging_profiles_api.ChargingProfileDetailView.as_view(),
        "charging-profile-detail",
    ),
    api_path(
        r"ocpp/stations/(?P<station_id>[^/]+)/charging_profiles",
        charging_profiles_api.StationChargingProfilesView.as_view(),
        "station-charging-profiles",
    ),
    api_path(
        r"ocpp/stations/(?P<station_id>[^/]+)/local_list",
        local_lists_api.LocalListView.as_view(),
        "station-local-list",
    ),
    api_path(
        r"ocpp/stations/(?P<station_id>[^/]+)/local_list/sync",
        local_lists_api.LocalListSyncView.as_view(),
        "station-local-list-sync",
    ),
]
