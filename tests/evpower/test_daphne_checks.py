"""Daphne's periodic checks of every connection run a slice at a time
(evpower.daphne_patches): a server holding thousands of stations does not
stop its event loop for them, and each connection is still checked."""

import asyncio
import time

import pytest
from daphne import server as daphne_server

from evpower import daphne_patches


class _Reactor:
    """Records callLater; `run_now` runs what is due at once (delay 0)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, object, tuple]] = []

    def callLater(self, delay, func, *args):  # Twisted's name
        self.calls.append((delay, func, args))

    def run_now(self) -> None:
        """Run the delay-0 calls (the next slices) until none is left."""
        while any(delay == 0 for delay, _, _ in self.calls):
            index = next(i for i, (delay, _, _) in enumerate(self.calls) if delay == 0)
            _, func, args = self.calls.pop(index)
            func(*args)


class _Protocol:
    def __init__(self) -> None:
        self.timeouts_checked = 0
        self.handled = None

    def check_timeouts(self) -> None:
        self.timeouts_checked += 1

    def handle_exception(self, exception) -> None:
        self.handled = exception


@pytest.fixture
def reactor(monkeypatch):
    daphne_patches.apply()
    fake = _Reactor()
    monkeypatch.setattr(daphne_server, "reactor", fake)
    return fake


def _server(connections: dict) -> daphne_server.Server:
    server = object.__new__(daphne_server.Server)
    server.connections = connections
    server.application_close_timeout = 10
    return server


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _done(loop, exception=None) -> asyncio.Future:
    future = loop.create_future()
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(None)
    return future


def test_timeouts_are_checked_a_slice_per_turn_then_again_in_two_seconds(reactor):
    protocols = [_Protocol() for _ in range(2 * daphne_patches.CHECK_SLICE + 7)]
    server = _server({p: {} for p in protocols})

    server.timeout_checker()
    assert sum(p.timeouts_checked for p in protocols) == daphne_patches.CHECK_SLICE  # the first slice only
    gone = protocols[-1]
    del server.connections[gone]  # closed before its slice came
    reactor.run_now()

    assert [p.timeouts_checked for p in protocols[:-1]] == [1] * (len(protocols) - 1)
    assert gone.timeouts_checked == 0
    assert reactor.calls == [(2, daphne_server.Server.timeout_checker, (server,))]


def test_applications_are_reaped_as_daphne_does_a_slice_per_turn(reactor, loop):
    running = [_Protocol() for _ in range(daphne_patches.CHECK_SLICE + 3)]
    closed, failed, stuck = _Protocol(), _Protocol(), _Protocol()
    stuck_app, error = loop.create_future(), ValueError("boom")
    connections = {p: {"application_instance": loop.create_future()} for p in running}
    connections[closed] = {"application_instance": _done(loop), "disconnected": time.time()}
    connections[failed] = {"application_instance": _done(loop, exception=error)}
    connections[stuck] = {"application_instance": stuck_app, "disconnected": time.time() - 60}
    server = _server(connections)

    server.application_checker()
    assert closed in server.connections  # not in the first slice
    reactor.run_now()

    assert closed not in server.connections  # socket and application closed: forgotten
    assert "application_instance" not in server.connections[failed]  # reaped, the socket told
    assert failed.handled is error
    assert stuck_app.cancelled()  # took too long after its client left
    assert all("application_instance" in server.connections[p] for p in running)
    assert reactor.calls == [(1, daphne_server.Server.application_checker, (server,))]
