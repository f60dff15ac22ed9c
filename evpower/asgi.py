"""ASGI entry point: HTTP through Django, station WebSockets through Channels."""

import asyncio
import os

import django
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from evpower import daphne_patches, gc_tuning, middleware, request_cycles  # noqa: E402
from ocpp_gateway.routing import websocket_urlpatterns  # noqa: E402

daphne_patches.apply()
middleware.request_started_without_thread()
middleware.response_closed_without_thread()
request_cycles.drf_views_held()


class _ASGIHandler(ASGIHandler):
    """Django's, with Django's middleware replaced by its twins that run on
    the event loop (`evpower.middleware`): an API request does not queue for
    Django's one sync thread once per middleware hook."""

    def load_middleware(self, is_async=False):
        configured = settings.MIDDLEWARE
        settings.MIDDLEWARE = middleware.for_asgi(configured)
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = configured

    async def handle(self, scope, receive, send):
        with request_cycles.served():
            await super().handle(scope, receive, send)

    async def send_response(self, response, send):
        await super().send_response(response, send)
        request_cycles.sent()

    def create_request(self, scope, body_file):
        request, error_response = super().create_request(scope, body_file)
        if request is not None:
            request_cycles.hold(request)
        return request, error_response

    async def listen_for_disconnect(self, receive):
        # Django's watcher raises RequestAborted when the client is gone,
        # which Uvicorn says of every request once its response is sent; and
        # `handle` cancels it otherwise. Either exception's traceback tied the
        # request's frames and tasks into a reference cycle, so each request's
        # objects (view, serializers, response) outlived it until the
        # collector found them: 5-15 ms young collections every few seconds
        # on a server with 5,000 stations. Ending quietly leaves no traceback.
        # `handle` (Django 5.2) treats an ended watcher as a raised one: it
        # cancels the view if it is still running (ticket 36700).
        try:
            await super().listen_for_disconnect(receive)
        except (RequestAborted, asyncio.CancelledError):
            pass


django_asgi_app = _ASGIHandler()

# Charge points send no Origin header, so the station route is deliberately
# not wrapped in AllowedHostsOriginValidator (keep that for browser routes).
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# The URLconf is imported by the first HTTP request otherwise: over a second
# of a busy event loop at 10,000 stations, stalling every station's frames.
_url_patterns = get_resolver().url_patterns
gc_tuning.apply()
