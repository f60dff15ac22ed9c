from evpower.api.routes import api_path
from ocpp_gateway import views

urlpatterns = [
    api_path("ocpp/connections", views.ConnectionsView.as_view(), "ocpp-connections"),
    api_path("ocpp/send_command", views.SendCommandView.as_view(), "ocpp-send-command"),
    api_path("metrics", views.MetricsView.as_view(), "metrics"),
]
