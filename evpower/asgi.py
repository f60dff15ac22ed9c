"""ASGI entry point: HTTP through Django, station WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from daphne.ws_protocol import WebSocketProtocol  # noqa: E402

from ocpp_gateway.routing import websocket_urlpatterns  # noqa: E402

# Daphne refuses a message over its size limit (1 MiB, the size SPEC allows)
# before the consumer sees it, and autobahn's default then drops the TCP
# connection: the station gets no close frame (1006) and retries the same
# frame. Fail with a close frame instead, so it reads 1009. (autobahn takes a
# protocol class attribute over the factory's option.)
WebSocketProtocol.failByDrop = False

# Charge points send no Origin header, so the station route is deliberately
# not wrapped in AllowedHostsOriginValidator (keep that for browser routes).
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
