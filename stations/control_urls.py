"""Routes of the command-state API: reservations, charging profiles, local lists."""

from evpower.api.routes import api_path
from stations import control_api

urlpatterns = [
    api_path("ocpp/reservations", control_api.ReservationListView.as_view(), "reservation-list"),
    api_path(
        r"ocpp/reservations/(?P<pk>[0-9]+)", control_api.ReservationDetailView.as_view(), "reservation-detail"
    ),
    api_path(
        r"ocpp/reservations/(?P<pk>[0-9]+)/cancel",
        control_api.ReservationCancelView.as_view(),
        "reservation-cancel",
    ),
    api_path(
        "ocpp/charging_profiles", control_api.ChargingProfileListView.as_view(), "charging-profile-list"
    ),
    api_path(
        r"ocpp/charging_profiles/(?P<pk>[0-9]+)",
        control_api.ChargingProfileDetailView.as_view(),
        "charging-profile-detail",
    ),
    api_path(
        r"ocpp/stations/(?P<station_id>[^/]+)/charging_profiles",
        control_api.StationChargingProfilesView.as_view(),
        "station-charging-profiles",
    ),
    api_path(
        r"ocpp/stations/(?P<station_id>[^/]+)/local_list",
        control_api.LocalListView.as_view(),
        "station-local-list",
    ),
    api_path(
        r"ocpp/stations/(?P<station_id>[^/]+)/local_list/sync",
        control_api.LocalListSyncView.as_view(),
        "station-local-list-sync",
    ),
]
