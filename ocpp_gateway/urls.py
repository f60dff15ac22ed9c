from django.urls import path

from evpower.api.routes import api_path
from ocpp_gateway import dashboard, views

urlpatterns = [
    path("dashboard", dashboard.dashboard_view, name="dashboard"),
    api_path("ocpp/connections", views.ConnectionsView.as_view(), "ocpp-connections"),
    api_path("ocpp/send_command", views.SendCommandView.as_view(), "ocpp-send-command"),
    api_path("metrics", views.MetricsView.as_view(), "metrics"),
]
