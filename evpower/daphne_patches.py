"""Refusals that Daphne's Twisted layers make before our application sees
the input, changed so that clients get an answer they can read; autobahn's
debug-only formatting, paid per connection and per frame with debug logging
off; Twisted's socket writes, made at once when nothing waits; and Daphne's
periodic checks of every connection, a slice at a time.

Applied from `evpower.asgi`, which Daphne imports before it builds its
protocol factories (also under `manage.py runserver`)."""

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from pprint import pformat

from autobahn import util as autobahn_util
from autobahn.twisted import websocket as autobahn_twisted
from autobahn.websocket import protocol as autobahn_protocol
from daphne import cli, http_protocol, ws_protocol
from daphne import server as daphne_server
from twisted.internet import tcp

from evpower import access_log


class _WebRequest(http_protocol.WebRequest):
    """Daphne's request without Twisted's own multipart parsing.

    Twisted parses a multipart POST body into `request.args` (which Daphne
    never reads) and answers a body it cannot parse with a bare 400 (no
    Content-Type, no body) and a disconnect. Django parses the body instead,
    and the API answers its JSON error."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)


class _Formatted:
    """`how(value)`, done only if the text is asked for (by a log line that
    is written)."""

    __slots__ = ("how", "value")

    def __init__(self, how: Callable[..., str], value) -> None:
        self.how, self.value = how, value

    def __str__(self) -> str:
        return self.how(self.value)

    __repr__ = __str__


def apply() -> None:
    http_protocol.WebRequest = _WebRequest
    # A WebSocket message over Daphne's size limit (1 MiB, what SPEC allows)
    # is refused before the consumer sees it, and autobahn's default then
    # drops the TCP connection: the station gets no close frame (1006) and
    # retries the same frame. Fail with a close frame instead, so it reads
    # 1009. (autobahn prefers a protocol class attribute to the factory's.)
    ws_protocol.WebSocketProtocol.failByDrop = False
    # The access log as log lines like any other (JSON in production), not
    # NCSA text on stdout. `cli` builds its logger after importing the app.
    cli.AccessLogGenerator = access_log.AccessLogGenerator
    # autobahn pretty-prints every new connection's options for a debug log
    # line, even when debug logging is off: 5 % of the server's CPU in a
    # 2,000-station reconnect storm (py-spy). Format only if it is logged.
    # (Its one other use must still return text.)
    autobahn_protocol.pformat = partial(_Formatted, pformat)
    autobahn_protocol.Timings.__str__ = _timings_text
    # The same for every frame received and sent: the debug lines' arguments
    # are coloured (click, there for Uvicorn) and named by inspect first,
    # 7 % of the event loop at 200 stations' saturated MeterValues (py-spy).
    for module in (autobahn_protocol, autobahn_twisted):
        module.hltype = partial(_Formatted, autobahn_util.hltype)
        module.hlval = partial(_Formatted, autobahn_util.hlval)
    # Every second Daphne looks at each connection's application (to reap a
    # finished one), every two seconds at each connection's timeouts and
    # ping, each time all of them in one go: at 10,000 connections a process
    # that stopped the event loop tens of ms, and every frame and command
    # waited (idle stations: send_command p99 97 ms with Daphne, 16 with
    # Uvicorn, which keeps a timer per connection instead). The same checks,
    # CHECK_SLICE connections per turn of the loop.
    daphne_server.Server.application_checker = _sliced(_application_check, every=1)
    daphne_server.Server.timeout_checker = _sliced(_timeouts_check, every=2)
    tcp.Connection.write = _write_now


# Twisted's own (its TLS layer's, else FileDescriptor's).
_buffered_write = tcp.Connection.write


def _write_now(connection: tcp.Connection, data: bytes) -> None:
    """Twisted's Connection.write, except that bytes written while nothing
    waits to be sent go to the socket at once, as asyncio's transports send
    them; what the socket does not take now is buffered as Twisted does.

    Twisted buffers every write and sends it when the event loop next finds
    the socket writable: per reply to a station, the socket registered for
    writing, one more turn of the loop, and registered off again (two
    epoll_ctl calls): about a tenth of the event loop at saturated
    MeterValues (py-spy). A TLS connection, a connection being closed or
    aborted and anything already buffered keep Twisted's way."""
    if (
        type(data) is bytes
        and data
        and connection.connected
        and not connection.TLS
        and not connection.disconnecting
        and not connection._aborting  # abortConnection: Twisted drops what is written after
        and not connection._writeDisconnected
        # Daphne leaves the HTTP channel registered as the socket's streaming
        # producer after a WebSocket upgrade; Twisted asks nothing of one
        # that is not paused when its writes are sent. A pull producer is
        # asked for more then: it keeps Twisted's way.
        and (connection.producer is None or (connection.streamingProducer and not connection.producerPaused))
        and not connection._tempDataBuffer
        and connection.offset == len(connection.dataBuffer)
    ):
        try:
            sent = connection.socket.send(data)
        except OSError:
            sent = 0  # would block, or the socket failed: Twisted's write finds out which
        if sent == len(data):
            return
        data = data[sent:]
    _buffered_write(connection, data)


def _timings_text(timings) -> str:
    return pformat(timings._timings)


# Connections Daphne's periodic checks look at per turn of the event loop.
# Each check may ping its connection (one silent for Daphne's 20 s), and the
# pongs come back together: stations that connected together are pinged
# together, every 20 s. 10,000 idle stations on two processes, two pairs:
# send_command p99 24.5 and 29.0 ms with 100, 33.2 and 33.9 with 500.
CHECK_SLICE = 100

_daphne_logger = logging.getLogger(daphne_server.__name__)


def _sliced(check: Callable, *, every: float) -> Callable:
    """A Server method: `check(server, protocol, details)` for each connection
    open when it starts (and still open), CHECK_SLICE per turn of the
    reactor's loop, and again `every` seconds after the last."""

    def checker(server) -> None:
        protocols = list(server.connections)

        def step(start: int) -> None:
            for protocol in protocols[start : start + CHECK_SLICE]:
                details = server.connections.get(protocol)
                if details is not None:  # not gone since the round began
                    check(server, protocol, details)
            if start + CHECK_SLICE < len(protocols):
                daphne_server.reactor.callLater(0, step, start + CHECK_SLICE)
            else:
                daphne_server.reactor.callLater(every, checker, server)

        step(0)

    return checker


def _timeouts_check(server, protocol, details: dict) -> None:
    """Daphne's `Server.timeout_checker` for one connection."""
    protocol.check_timeouts()


def _application_check(server, protocol, details: dict) -> None:
    """Daphne 4.2's `Server.application_checker` for one connection."""
    disconnected = details.get("disconnected")
    application_instance = details.get("application_instance")
    # An application that has taken too long to close up after its client left.
    too_long = disconnected and time.time() - disconnected > server.application_close_timeout
    if too_long and application_instance and not application_instance.done():
        _daphne_logger.warning(
            "Application instance %r for connection %s took too long to shut down and was killed.",
            application_instance,
            repr(protocol),
        )
        application_instance.cancel()
    # A finished application is reaped.
    if application_instance and application_instance.done():
        try:
            exception = application_instance.exception()
        except asyncio.CancelledError:
            pass
        else:
            if exception:
                if isinstance(exception, KeyboardInterrupt):
                    server.stop()  # the protocol asks the server to exit (tests)
                else:
                    _daphne_logger.error("Exception inside application: %s", exception, exc_info=exception)
                    if not disconnected:
                        protocol.handle_exception(exception)
        del server.connections[protocol]["application_instance"]
        application_instance = None
    # Both the socket and the application closed: forgotten.
    if not application_instance and disconnected:
        del server.connections[protocol]
