"""What an HTTP request leaves in reference cycles, let go once it is served.

Django and DRF tie every request into reference cycles: the request and its
messages storage (which holds the request), its lazy `user` (a closure over
the request) and `auser` (a partial of it); a DRF view and its Request (the
Request's `parser_context` holds both) and its Response (whose renderer
context holds all three). Reference counting cannot free a
cycle, so each API request's objects (about 120) waited for the collector,
and on a busy server most of them lived long enough to reach the oldest
generation: at 2,000 stations under MeterValues load with 50 commands a
second, 600-800 served requests sat there at any time, walked by each full
collection, which stops the event loop. Here the ASGI handler empties those
objects once the response is sent whole (`served`), so what they held is freed at
once; the few small objects left (empty shells, serializer fields bound to
their serializer) are the collector's as before.

Only under the ASGI handler (evpower.asgi): the test client and WSGI keep
their requests as Django does, for tests that read them afterwards.
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from rest_framework.views import APIView


class _Held:
    """What one request holds, and whether its response went out whole."""

    __slots__ = ("closed", "objects", "sent")

    def __init__(self) -> None:
        self.objects: list = []
        self.sent = self.closed = False


# The request being served, or None outside `served`. A sync view runs in a
# copy of the context, which holds this same object.
_serving: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("request_cycles", default=None)


def hold(*objects) -> None:
    """Empty `objects` once the request being served is done (if one is)."""
    held = _serving.get()
    if held is not None and not held.closed:
        held.objects.extend(objects)


def sent() -> None:
    """The response of the request being served went out whole."""
    held = _serving.get()
    if held is not None:
        held.sent = True


@contextmanager
def served() -> Iterator[None]:
    """Around the serving of one request (the handler's `handle`)."""
    held = _Held()
    token = _serving.set(held)
    try:
        yield
    finally:
        _serving.reset(token)
        held.closed = True
        # Only a response sent whole says the view is done: a sync view whose
        # client went away still runs on its thread (the handler cancels only
        # its wait for it), as does one the server cancelled; theirs are left
        # to the collector.
        if held.sent:
            for obj in held.objects:
                obj.__dict__.clear()
        # Tasks and timers started meanwhile keep a copy of the context, and
        # this object in it (a cancelled timeout's timer for its whole delay).
        held.objects.clear()


def drf_views_held() -> None:
    """Let every DRF view, its Request and its Response (whose renderer
    context holds all three) be held by the request they serve."""
    if getattr(APIView.finalize_response, "holds_view", False):
        return  # applied already
    drfs = APIView.finalize_response

    def finalize_response(self, request, response, *args, **kwargs):
        response = drfs(self, request, response, *args, **kwargs)
        hold(self, request, response)
        return response

    finalize_response.holds_view = True
    APIView.finalize_response = finalize_response
