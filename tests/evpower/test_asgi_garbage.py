"""A request served through the ASGI application is freed by reference
counting, with no cycle left for the collector, and a client that goes away
still cancels its view (evpower.asgi)."""

import asyncio
import contextlib
import gc
import json
import threading
import types

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.request import Request
from rest_framework.views import APIView

from evpower.asgi import django_asgi_app
from tests.asgi_http import scope, serve


def _handler_frames(objects) -> list[str]:
    return [
        o.f_code.co_qualname
        for o in objects
        if isinstance(o, types.FrameType) and "ASGIHandler" in o.f_code.co_qualname
    ]


async def test_a_served_request_leaves_no_handler_frames_in_a_cycle():
    gc.collect()
    gc.disable()
    try:
        for disconnect_after in (True, False, True):
            assert await serve("/no-such-page", disconnect_after) == 404
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = _handler_frames(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view", ["sync", "async"])
async def test_a_served_api_request_leaves_no_request_view_or_response_in_a_cycle(view, live_token):
    # Django's request (messages storage, lazy user), DRF's view, Request and
    # Response all hold each other: the handler empties them once served.
    key = await sync_to_async(live_token)()
    headers = (("authorization", f"Token {key}"), ("content-type", "application/json"))
    if view == "sync":
        request, status = {"path": "/auth/me", "method": "GET"}, 200
    else:  # a command, answered on the event loop (not sent: no such command)
        body = json.dumps({"station_id": "CP-1", "command": "NoSuchCommand", "payload": {}})
        request, status = {"path": "/ocpp/send_command", "method": "POST", "body": body.encode()}, 400
    assert await serve(disconnect_after=True, headers=headers, **request) == status  # token cached
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert await serve(disconnect_after=True, headers=headers, **request) == status
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kinds = (HttpRequest, Request, APIView, HttpResponseBase)
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, kinds)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


async def test_a_client_gone_before_the_response_still_cancels_the_view(monkeypatch):
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def a_view_still_running(request):
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(django_asgi_app, "run_get_response", a_view_still_running)
    app = ApplicationCommunicator(django_asgi_app, scope("/api/anything"))
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    await asyncio.wait_for(started.wait(), 5)
    await app.send_input({"type": "http.disconnect"})
    await asyncio.wait_for(cancelled.wait(), 5)
    await app.wait(5)  # and the handler ends


async def test_a_sync_view_still_running_when_the_server_cancels_its_request_keeps_it(monkeypatch):
    # A server cancels the application (Daphne past application_close_timeout,
    # at shutdown): the view goes on on its thread, and what it reads
    # afterwards must still be there (only a response sent whole empties it).
    started, release, seen = threading.Event(), threading.Event(), []

    def slow_view(request):
        started.set()
        release.wait(5)
        seen.append(request.META["PATH_INFO"])
        return HttpResponse("late")

    async def run_on_a_thread(request):
        return await sync_to_async(slow_view)(request)

    monkeypatch.setattr(django_asgi_app, "run_get_response", run_on_a_thread)
    app = ApplicationCommunicator(django_asgi_app, scope("/api/slow"))
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    await asyncio.to_thread(started.wait, 5)
    app.future.cancel()
    await asyncio.sleep(0.2)  # the handler has ended (asgiref still waits for the thread)
    release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(app.future, 5)
    assert seen == ["/api/slow"]
