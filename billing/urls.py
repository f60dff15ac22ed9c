"""Tariff and charging-session endpoints."""

from billing import api, transactions_api
from evpower.api.routes import api_path

urlpatterns = [
    api_path("ocpp/tariffs", api.TariffListView.as_view(), "tariff-list"),
    api_path(r"ocpp/tariffs/(?P<pk>[0-9]+)", api.TariffDetailView.as_view(), "tariff-detail"),
    api_path("ocpp/sessions", api.SessionListView.as_view(), "session-list"),
    api_path(r"ocpp/sessions/(?P<pk>[0-9]+)", api.SessionDetailView.as_view(), "session-detail"),
    api_path(r"ocpp/sessions/(?P<pk>[0-9]+)/stop", api.SessionStopView.as_view(), "session-stop"),
    api_path("ocpp/start_charge", api.StartChargeView.as_view(), "start-charge"),
    # Station ids may hold `: # + .` (percent-encoded in the path).
    api_path(
        r"ocpp/status/(?P<station_id>[^/]+)", transactions_api.StationStatusView.as_view(), "station-status"
    ),
]
