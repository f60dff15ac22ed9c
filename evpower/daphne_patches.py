"""Refusals that Daphne's Twisted layers make before our application sees
the input, changed so that clients get an answer they can read; and one
per-connection cost of autobahn's that a reconnect storm pays thousands of
times.

Applied from `evpower.asgi`, which Daphne imports before it builds its
protocol factories (also under `manage.py runserver`)."""

from pprint import pformat

from autobahn.websocket import protocol as autobahn_protocol
from daphne import cli, http_protocol, ws_protocol

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
    """`pformat(value)`, done only if the text is asked for."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def __str__(self) -> str:
        return pformat(self.value)

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
    autobahn_protocol.pformat = _Formatted
    autobahn_protocol.Timings.__str__ = _timings_text


def _timings_text(timings) -> str:
    return pformat(timings._timings)
