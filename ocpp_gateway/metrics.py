"""Prometheus metrics that processes count as things happen (a CALLERROR, a
commit, a channel-layer failure). What is measured at scrape time (stations
connected, open transactions, connectors by status) is in `scrape.py`.

With `PROMETHEUS_MULTIPROC_DIR` set (before the process starts), every
process sharing that directory writes its values there and any of them
answers `/metrics` with the sum over all (see README "Metrics")."""

import hmac
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics

from ocpp16.errors import CallErrorCode
from ocpp16.schemas import CENTRAL_ACTIONS, STATION_ACTIONS

# A `_created` series beside every counter and histogram doubles the series
# for nothing Prometheus needs (it detects resets by itself).
disable_created_metrics()

messages = Counter(
    "evpower_ocpp_messages_total",
    "OCPP frames by direction, message type and action.",
    ["direction", "message_type", "action"],
)
errors = Counter(
    "evpower_ocpp_errors_total",
    "CALLERRORs by direction (in: sent by a station, out: sent to one) and error code.",
    ["direction", "code"],
)
command_latency = Histogram(
    "evpower_ocpp_command_seconds",
    "Time from sending a central-system command to its outcome.",
    ["action", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
channel_layer_errors = Counter(
    "evpower_channel_layer_errors_total",
    "Channel-layer (Redis) operations that failed, by operation; receives are retried.",
    ["operation"],
)
writer_commit_seconds = Histogram(
    "evpower_writer_commit_seconds",
    "Time of one group commit of the station writer (all its units and rows).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
writer_loop_fallbacks = Counter(
    "evpower_writer_loop_fallbacks_total",
    "Commits the event loop began and handed to the writer thread, which gathers them again: "
    "gather (a state needed SQL first) or send (a loop connection's commit failed).",
    ["reason"],
)
writer_batch_size = Histogram(
    "evpower_writer_batch_size",
    "Units of work (frames' writes) and message-log rows per group commit.",
    ["kind"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)

# The label values a station's text becomes: an action or error code OCPP
# 1.6 does not name is counted as OTHER. A station may send any text: each
# new value was a series of its own for good, and one Prometheus cannot
# write (a lone surrogate) failed every scrape after it.
_ACTIONS = frozenset((*STATION_ACTIONS, *CENTRAL_ACTIONS, ""))
_ERROR_CODES = frozenset(CallErrorCode)
OTHER = "other"

# Children of `messages` by labels: `.labels()` per frame costs a lock and a
# tuple of str() each time. Known actions only: bounded.
_MESSAGE_CHILDREN: dict[tuple[str, str, str], Any] = {}


def message_counted(direction: str, message_type: str, action: str) -> None:
    """Count one OCPP frame in `messages`."""
    key = (direction, message_type, action)
    child = _MESSAGE_CHILDREN.get(key)
    if child is None:
        if action in _ACTIONS:
            child = _MESSAGE_CHILDREN[key] = messages.labels(direction, message_type, action)
        else:
            child = messages.labels(direction, message_type, OTHER)
    child.inc()


def error_counted(direction: str, code) -> None:
    """Count one CALLERROR in `errors` by its code (a station's may be any text)."""
    errors.labels(direction, code if isinstance(code, str) and code in _ERROR_CODES else OTHER).inc()


def token_matches(presented: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())
