from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from ocpp_gateway.consumers import StationConsumer


class RefuseConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path (e.g. an id with an encoded "/"): refused
    cleanly at the handshake instead of failing in the router."""

    async def connect(self):
        await self.close()


websocket_urlpatterns = [
    re_path(r"^ws/(?P<station_id>[^/]+)/?$", StationConsumer.as_asgi()),
    re_path(r"", RefuseConsumer.as_asgi()),
]
