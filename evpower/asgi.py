"""ASGI entry point: HTTP through Django, station WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from evpower import daphne_patches  # noqa: E402
from ocpp_gateway.routing import websocket_urlpatterns  # noqa: E402

daphne_patches.apply()

# Charge points send no Origin header, so the station route is deliberately
# not wrapped in AllowedHostsOriginValidator (keep that for browser routes).
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
