from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from ocpp16 import schemas
from ocpp_gateway.consumers import station_app
from ocpp_gateway.dashboard import DashboardConsumer


class RefuseConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path (e.g. an id with an encoded "/"): refused
    cleanly at the handshake instead of failing in the router."""

    async def connect(self):
        await self.close()


# Compile every OCPP validator when the server loads its routes (about 0.1 s),
# not on the event loop at the first frame of each action.
schemas.warm_up()

websocket_urlpatterns = [
    # A browser route: origin checked, signed in by the session cookie. (The
    # station route below must stay unwrapped: charge points send no Origin.)
    re_path(
        r"^live/dashboard$",
        AllowedHostsOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi())),
    ),
    re_path(r"^ws/(?P<station_id>[^/]+)/?$", station_app),
    re_path(r"", RefuseConsumer.as_asgi()),
]
