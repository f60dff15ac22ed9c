"""Daphne's access log through `logging` (logger `evpower.access`): one line
per HTTP request and per WebSocket event, with its fields, in the format of
every other line (JSON in production) instead of Daphne's NCSA text on stdout."""

import logging
from urllib.parse import unquote

logger = logging.getLogger("evpower.access")

STATION_PATH = "/ws/"


def _text(value) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def access_log(protocol: str, action: str, details: dict) -> None:
    """Daphne's action logger interface (`server.log_action`)."""
    path = _text(details.get("path"))
    fields = {"protocol": protocol, "path": path, "client": details.get("client")}
    if protocol == "http":
        if action != "complete":
            return
        method, status = details.get("method"), details.get("status")
        fields.update(
            method=method,
            status_code=status,
            size=details.get("size"),
            duration_ms=round((details.get("time_taken") or 0) * 1000, 1),
        )
        logger.info("%s %s %s", method, path, status, extra=fields)
        return
    if path and path.startswith(STATION_PATH):
        fields["station_id"] = unquote(path[len(STATION_PATH) :])
    level = logging.DEBUG if action == "connecting" else logging.INFO
    logger.log(level, "websocket %s %s", action, path, extra=fields)


class AccessLogGenerator:
    """Replaces `daphne.access.AccessLogGenerator`: the stream Daphne opens is ignored."""

    def __init__(self, stream=None):
        self.stream = stream

    def __call__(self, protocol, action, details):
        access_log(protocol, action, details)
