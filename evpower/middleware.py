"""Django's own middleware, without a trip to the sync thread per hook.

Under ASGI Django runs every `process_request` and `process_response` of a
`MiddlewareMixin` middleware through `sync_to_async` on its one sync thread:
with the eight below that is about sixteen trips per request, each a wait for
the thread and the GIL while the event loop is busy with stations (measured:
2 ms per API request idle, 10-17 ms under MeterValues load). Their hooks only
read and write headers and cookies and set up lazy objects (user, session,
messages), so here they run where the request is, on the event loop. What
does I/O still goes to the sync thread: saving a session that changed, storing
messages that were read or added, and the CSRF check of a view that is not
exempt (API views are).

WhiteNoise's middleware is sync only, which under ASGI put the rest of the
chain and every view on the sync thread; `StaticFilesMiddleware` is the same,
sync and async.

`settings.MIDDLEWARE` names Django's classes (Django's deploy checks look for
those names); the ASGI entry point (`evpower.asgi`) loads their twins here,
`for_asgi`. Under WSGI and the test client (sync mode) nothing changes.
"""

from asgiref.sync import AsyncToSync, SyncToAsync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core import signals
from django.core.cache import close_caches
from django.core.handlers import asgi as django_asgi
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, connections, reset_queries
from django.http import HttpResponseBase
from django.middleware import clickjacking, common, csrf, locale, security
from whitenoise.middleware import WhiteNoiseMiddleware


class _HooksOnLoop:
    """Async mode of a MiddlewareMixin whose hooks do no I/O, unless
    `response_needs_thread` says this response's `process_response` does."""

    def response_needs_thread(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if not hasattr(self, "process_response"):
            return response
        if self.response_needs_thread(request, response):
            return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return self.process_response(request, response)


class SecurityMiddleware(_HooksOnLoop, security.SecurityMiddleware):
    pass


class SessionMiddleware(_HooksOnLoop, sessions.SessionMiddleware):
    def response_needs_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(_HooksOnLoop, locale.LocaleMiddleware):
    pass


class CommonMiddleware(_HooksOnLoop, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(_HooksOnLoop, csrf.CsrfViewMiddleware):
    def __init__(self, get_response):
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            # Django adapts a sync process_view to the sync thread in async mode.
            self.process_view = self._process_view_async

    async def _process_view_async(self, request, callback, callback_args, callback_kwargs):
        if getattr(callback, "csrf_exempt", False):
            return None
        return await sync_to_async(super().process_view, thread_sensitive=True)(
            request, callback, callback_args, callback_kwargs
        )


class AuthenticationMiddleware(_HooksOnLoop, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_HooksOnLoop, messages.MessageMiddleware):
    def response_needs_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(_HooksOnLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's middleware, sync and async: a static file is looked up in
    memory (with autorefresh on disk, as WhiteNoise does) and served at once;
    any other request goes on untouched."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, **kwargs):
        super().__init__(get_response, **kwargs)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


_TWINS = {
    "django.middleware.security.SecurityMiddleware": SecurityMiddleware,
    "whitenoise.middleware.WhiteNoiseMiddleware": StaticFilesMiddleware,
    "django.contrib.sessions.middleware.SessionMiddleware": SessionMiddleware,
    "django.middleware.locale.LocaleMiddleware": LocaleMiddleware,
    "django.middleware.common.CommonMiddleware": CommonMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": CsrfViewMiddleware,
    "django.contrib.auth.middleware.AuthenticationMiddleware": AuthenticationMiddleware,
    "django.contrib.messages.middleware.MessageMiddleware": MessageMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
}


def for_asgi(paths: list[str]) -> list[str]:
    """`settings.MIDDLEWARE` with each of Django's classes replaced by its twin here."""
    return [f"{__name__}.{_TWINS[path].__name__}" if path in _TWINS else path for path in paths]


# Django's own receivers of `request_started`. They act on the database
# connections of the thread they run on; under ASGI that is the thread asgiref
# starts afresh for each request (its ThreadSensitiveContext), which has none
# yet at the start: nothing to do, but a thread to start and wait for on a
# busy event loop (measured: 1.6 ms per API request idle, 12-58 ms at p99
# under MeterValues load).
_NOTHING_TO_DO_AT_START = (reset_queries, close_old_connections)


def _only_djangos_receivers(signal, sender, djangos: tuple) -> bool:
    """Nobody but `djangos` (Django's own sync receivers) listens to `signal` from `sender`."""
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return not async_receivers and all(r in djangos for r in sync_receivers)


def request_started_without_thread() -> None:
    """Let `request_started.asend` (Django's ASGI handler) skip the trip to a
    thread when only Django's own receivers listen; any other receiver is run
    as Django runs it. `send` (WSGI, the test client) is unchanged."""
    signal = signals.request_started
    if "asend" in vars(signal):
        return  # applied already
    djangos_asend = signal.asend

    async def asend(sender, **named):
        if _only_djangos_receivers(signal, sender, _NOTHING_TO_DO_AT_START):
            return []
        return await djangos_asend(sender, **named)

    signal.asend = asend


# Django's own receivers of `request_finished`, which `response.close()`
# sends. Django's ASGI handler closes every response through `sync_to_async`,
# on the thread asgiref starts for the request (the first trip there starts
# it): again a thread started and waited for on the event loop, for
# receivers with nothing to do there (the database connections and caches
# they close are those of the thread they run on, and a request served on
# the loop opened none; the URLconf they reset is the loop's own). At 2,000
# stations under MeterValues load, starting it was 6 % of the loop's time
# (py-spy), the loop stopped each time the new thread waited for the GIL.
_NOTHING_TO_DO_AT_FINISH = (close_old_connections, close_caches, reset_urlconf)


def _closes_on_loop(func) -> bool:
    """`func` is the close of a response whose closing needs no thread:
    - its request ran no sync code on a thread of its own (a sync view, the
      ORM through sync_to_async): that thread's database connections are
      closed there by `request_finished`, as Django does, or they would stay
      out of the pool;
    - the loop's thread holds no database connection (a server's never does:
      the ORM refuses the loop), so `close_old_connections` has nothing to do;
    - it is not streaming (an iterator of a view's may do I/O);
    - only Django's own receivers listen to `request_finished`."""
    response = getattr(func, "__self__", None)
    if not isinstance(response, HttpResponseBase) or func != response.close or response.streaming:
        return False
    # asgiref's record of the thread it started for this request (its ThreadSensitiveContext).
    request_context = SyncToAsync.thread_sensitive_context.get(None)
    if request_context is None or request_context in SyncToAsync.context_to_thread_executor:
        return False
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return False  # called from sync code (async_to_sync): Django's way
    if any(conn.connection is not None for conn in connections.all(initialized_only=True)):
        return False
    sender = getattr(response, "_handler_class", None)  # what close() sends as
    return _only_djangos_receivers(signals.request_finished, sender, _NOTHING_TO_DO_AT_FINISH)


def response_closed_without_thread() -> None:
    """Let Django's ASGI handler close a response on the event loop when that
    needs no thread (`_closes_on_loop`); anything else it sends through
    `sync_to_async` goes there as before."""
    djangos = django_asgi.sync_to_async
    if getattr(djangos, "closes_on_loop", False):
        return  # applied already

    def sync_to_async_closing_on_loop(func, *args, **kwargs):
        if _closes_on_loop(func):

            async def close():
                return func()

            return close
        return djangos(func, *args, **kwargs)

    sync_to_async_closing_on_loop.closes_on_loop = True
    django_asgi.sync_to_async = sync_to_async_closing_on_loop
