"""DRF views whose handlers are coroutines, answered on the event loop.

Under ASGI a DRF view runs on Django's one sync thread, and a view that waits
(for a station's reply) holds that thread, and every other sync request,
for the whole wait. An `AsyncAPIView` keeps DRF's contract (authentication,
permissions, throttles, content negotiation, the exception handler, the
OpenAPI document) but runs them on the event loop when they need no I/O
(a cached token, `CachedTokenAuthentication`), else once on the sync thread;
its handler runs on the event loop, and it hands Django a rendered response
(Django would render a DRF `Response` on the sync thread).
"""

import asyncio

from asgiref.sync import sync_to_async
from django.http import HttpResponse
from rest_framework.views import APIView


class AsyncAPIView(APIView):
    """An APIView whose `get`/`post`/… are `async def` (all of them: Django's rule)."""

    def _checks_need_no_io(self, request) -> bool:
        """Whether `initial` (authentication, permissions, throttles) can run
        on the event loop: the first authenticator answers from memory (the
        others are then not asked) and nothing throttles."""
        authenticators = request.authenticators
        return (
            bool(authenticators)
            and getattr(authenticators[0], "answers_from_memory", lambda r: False)(request)
            and not self.get_throttles()
        )

    async def dispatch(self, request, *args, **kwargs):
        # APIView.dispatch, with `initial` and the handler awaited.
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            if self._checks_need_no_io(request):
                self.initial(request, *args, **kwargs)
            else:
                await sync_to_async(self.initial)(request, *args, **kwargs)
            if request.method.lower() in self.http_method_names:
                handler = getattr(self, request.method.lower(), self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            response = handler(request, *args, **kwargs)
            if asyncio.iscoroutine(response):  # OPTIONS and 405 are DRF's sync handlers
                response = await response
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return _rendered(self.response)


def _rendered(response):
    """`response` rendered here, as a plain HttpResponse Django sends as is."""
    if not hasattr(response, "render"):
        return response
    response.render()
    plain = HttpResponse(response.content, status=response.status_code)
    for header, value in response.items():
        plain[header] = value
    return plain
