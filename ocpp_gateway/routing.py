from django.urls import re_path

from ocpp_gateway.consumers import StationConsumer

websocket_urlpatterns = [
    re_path(r"^ws/(?P<station_id>[^/]+)/?$", StationConsumer.as_asgi()),
]
