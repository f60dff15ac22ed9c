"""Routes of the billing API: tariffs, sessions, transactions, station status."""

from billing import exports_api, sessions_api, tariffs_api, transactions_api
from evpower.api.routes import api_path

TRANSACTION = r"(?P<transaction_id>[0-9]+)"

urlpatterns = [
    api_path("ocpp/tariffs", tariffs_api.TariffListView.as_view(), "tariff-list"),
    api_path(r"ocpp/tariffs/(?P<pk>[0-9]+)", tariffs_api.TariffDetailView.as_view(), "tariff-detail"),
    api_path("ocpp/sessions", sessions_api.SessionListView.as_view(), "session-list"),
    api_path("ocpp/sessions/export", exports_api.SessionExportView.as_view(), "session-export"),
    api_path(r"ocpp/sessions/(?P<pk>[0-9]+)", sessions_api.SessionDetailView.as_view(), "session-detail"),
    api_path(r"ocpp/sessions/(?P<pk>[0-9]+)/stop", sessions_api.SessionStopView.as_view(), "session-stop"),
    api_path("ocpp/start_charge", sessions_api.StartChargeView.as_view(), "start-charge"),
    # Station ids may hold `: # + .` (percent-encoded in the path).
    api_path(
        r"ocpp/status/(?P<station_id>[^/]+)", transactions_api.StationStatusView.as_view(), "station-status"
    ),
    api_path("ocpp/transactions", transactions_api.TransactionListView.as_view(), "transaction-list"),
    api_path(
        f"ocpp/transactions/{TRANSACTION}",
        transactions_api.TransactionDetailView.as_view(),
        "transaction-detail",
    ),
    api_path(
        f"ocpp/transactions/{TRANSACTION}/close",
        transactions_api.TransactionCloseView.as_view(),
        "transaction-close",
    ),
]
