"""Under ASGI Django's middleware is replaced by twins that run on the event
loop (`evpower.middleware`); settings keep Django's names for its checks."""

import threading

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.db.backends.signals import connection_created
from django.dispatch import dispatcher
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.module_loading import import_string

from evpower import middleware
from evpower.asgi import django_asgi_app
from tests.asgi_http import serve


def test_every_middleware_under_asgi_is_async_and_does_what_djangos_does():
    for configured, loaded in zip(settings.MIDDLEWARE, middleware.for_asgi(settings.MIDDLEWARE), strict=True):
        original, twin = import_string(configured), import_string(loaded)
        assert twin is original or issubclass(twin, original), configured
        # A sync-only one would put the rest of the chain, and every view, on a thread.
        assert getattr(twin, "async_capable", False), configured


def test_settings_name_djangos_own_classes_for_its_deploy_checks():
    assert "django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in settings.MIDDLEWARE


def test_the_asgi_handler_loads_the_twins():
    view_middleware = [method.__self__ for method in django_asgi_app._view_middleware]
    assert [type(m) for m in view_middleware] == [middleware.CsrfViewMiddleware]


async def test_request_started_under_asgi_needs_no_thread_for_djangos_own_receivers(monkeypatch):
    def no_thread(*args, **kwargs):
        raise AssertionError("a trip to a thread")

    monkeypatch.setattr(dispatcher, "sync_to_async", no_thread)

    assert await signals.request_started.asend(sender=type(django_asgi_app), scope={}) == []


async def test_request_started_under_asgi_still_runs_any_other_receiver():
    heard = []

    def receiver(sender, **kwargs):
        heard.append(sender)

    signals.request_started.connect(receiver)
    try:
        await signals.request_started.asend(sender=type(django_asgi_app), scope={})
    finally:
        signals.request_started.disconnect(receiver)
    assert heard == [type(django_asgi_app)]


def _threads_started(monkeypatch) -> list:
    started = []
    start = threading.Thread.start

    def counted(thread):
        started.append(thread.name)
        return start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    return started


async def _answered_on_the_loop(request):
    """A view answering on the event loop (no thread of its own)."""
    return HttpResponse("ok")


async def test_a_request_under_asgi_starts_no_thread_to_close_its_response(monkeypatch):
    monkeypatch.setattr(django_asgi_app, "run_get_response", _answered_on_the_loop)
    started = _threads_started(monkeypatch)
    closed = []
    monkeypatch.setattr(HttpResponseBase, "close", _noting(HttpResponseBase.close, closed))
    assert await serve("/anything", disconnect_after=True) == 200
    assert closed == [threading.current_thread().name]  # closed, on the loop
    assert started == []


async def test_a_response_is_closed_on_the_requests_thread_when_it_ran_sync_code_there(monkeypatch):
    """A sync view or the ORM ran on the request's own thread: its database
    connections are closed there by request_finished, as Django does."""

    async def sync_code_on_the_requests_thread(request):
        await sync_to_async(lambda: None)()
        return HttpResponse("ok")

    monkeypatch.setattr(django_asgi_app, "run_get_response", sync_code_on_the_requests_thread)
    closed = []
    monkeypatch.setattr(HttpResponseBase, "close", _noting(HttpResponseBase.close, closed))
    assert await serve("/anything", disconnect_after=True) == 200
    assert len(closed) == 1 and closed[0] != threading.current_thread().name


async def test_a_response_is_closed_on_a_thread_when_another_receiver_listens(monkeypatch):
    monkeypatch.setattr(django_asgi_app, "run_get_response", _answered_on_the_loop)
    heard = []

    def receiver(sender, **kwargs):
        heard.append(threading.current_thread().name)

    signals.request_finished.connect(receiver)
    try:
        assert await serve("/anything", disconnect_after=True) == 200
    finally:
        signals.request_finished.disconnect(receiver)
    assert len(heard) == 1 and heard[0] != threading.current_thread().name  # as Django runs it


async def test_a_streaming_response_is_closed_as_django_closes_it():
    async with ThreadSensitiveContext():  # as Django serves a request
        assert middleware._closes_on_loop(HttpResponse().close)
        assert not middleware._closes_on_loop(StreamingHttpResponse(iter([b"x"])).close)
        assert not middleware._closes_on_loop(print)
        assert not middleware._closes_on_loop(HttpResponse().flush)  # not a close


def _noting(close, closed: list):
    def noted(response):
        closed.append(threading.current_thread().name)
        return close(response)

    return noted


@pytest.mark.django_db(transaction=True)
async def test_a_sync_views_database_connection_is_closed_after_its_request():
    """/health is a sync view: the connection it opened on the request's
    thread is closed (given back to the pool) once the response is closed."""
    opened = []

    def note(sender, connection, **kwargs):
        opened.append(connection)

    connection_created.connect(note)
    try:
        assert await serve("/health", disconnect_after=True) == 200
    finally:
        connection_created.disconnect(note)
    assert opened and all(wrapper.connection is None for wrapper in opened)
