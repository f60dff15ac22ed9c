"""Log lines: one JSON object per line in production, plain lines in development.

Every standard-library record (ours, Django's, Daphne's, the `ocpp`
package's) goes through structlog's `ProcessorFormatter`, so a line carries
the fields given with `extra=` and those bound to the running task with
`bind` (the consumer binds `station_id` for its connection's lifetime).
Settings pick the renderer: `formatter(json=...)` in `LOGGING`."""

import logging
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, merge_contextvars

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# What the plain renderer writes before the fields, in this order.
_HEAD = ("timestamp", "level", "logger", "event")


def bind(**fields: Any) -> None:
    """Add `fields` to every line logged from the running task (and the tasks it starts)."""
    bind_contextvars(**fields)


def _extra_fields(logger, method_name: str, event: dict) -> dict:
    """The fields of `logger.info(..., extra={...})` as keys of the line."""
    record = event.get("_record")
    if record is None:
        return event
    for key, value in vars(record).items():
        if key in _RECORD_ATTRIBUTES or key.startswith("_") or key in event:
            continue
        if key == "request":
            # Django's request log passes the request itself: keep what identifies it.
            event.setdefault("method", getattr(value, "method", None))
            event.setdefault("path", getattr(value, "path", None))
            continue
        event[key] = value
    return event


def _plain_value(value) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() or c in "'\"=" for c in text) else text


def _plain(logger, method_name: str, event: dict) -> str:
    """`time LEVEL logger message key=value ...`, then the traceback if any."""
    event = dict(event)
    exception = event.pop("exception", None)
    head = [str(event.pop(key, "")) for key in _HEAD]
    head[1] = head[1].upper()
    fields = " ".join(f"{key}={_plain_value(value)}" for key, value in event.items())
    line = " ".join(part for part in (*head, fields) if part)
    return f"{line}\n{exception}" if exception else line


_PRE_CHAIN = [
    merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _extra_fields,
]


def formatter(json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The `logging` formatter of every handler (`"()"` factory in `LOGGING`)."""
    final = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(default=str)]
        if json
        else [structlog.processors.format_exc_info, _plain]
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


class DropClientErrors(logging.Filter):
    """For `django.request`: 4xx answers are already in the access log (one
    line per request); server errors stay, with their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", 500) >= 500
