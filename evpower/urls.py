from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from evpower import back_office, locale
from evpower.api import accounts, health
from evpower.api.errors import json_404
from evpower.api.routes import api_path

handler400 = "evpower.api.errors.json_400"
handler403 = "evpower.api.errors.json_403"
handler404 = "evpower.api.errors.json_404"
handler500 = "evpower.api.errors.json_500"

urlpatterns = [
    path("", back_office.landing, name="landing"),
    path("language", locale.language_set, name="language-set"),
    path("admin/", admin.site.urls),
    api_path("health", health.HealthView.as_view(), "health"),
    api_path("auth/token", accounts.TokenView.as_view(), "auth-token"),
    api_path("auth/me", accounts.MeView.as_view(), "auth-me"),
    api_path("ocpp/users", accounts.UserListView.as_view(), "user-list"),
    api_path(r"ocpp/users/(?P<pk>[0-9]+)", accounts.UserDetailView.as_view(), "user-detail"),
    api_path("openapi.json", SpectacularJSONAPIView.as_view(), "openapi"),
    api_path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), "docs"),
    path("", include("ocpp_gateway.urls")),
    path("", include("stations.urls")),
    path("", include("billing.urls")),
    # Last: anything else is a JSON 404, also with DEBUG on (no HTML page).
    re_path(r"^", json_404),
]
