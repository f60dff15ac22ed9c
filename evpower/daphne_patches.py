"""Refusals that Daphne's Twisted layers make before our application sees
the input, changed so that clients get an answer they can read.

Applied from `evpower.asgi`, which Daphne imports before it builds its
protocol factories (also under `manage.py runserver`)."""

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
