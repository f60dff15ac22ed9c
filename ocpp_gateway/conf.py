"""The gateway's settings: `settings.OCPP` over these defaults (like DRF's api_settings)."""

from django.conf import settings

DEFAULTS = {
    # accept | pending | reject: what happens to a station id we do not know.
    "UNKNOWN_STATIONS": "accept",
    # Seconds, returned in BootNotification.
    "HEARTBEAT_INTERVAL": 300,
    # Seconds to wait for a station's reply, from when the call is sent.
    "CALL_TIMEOUT": 30.0,
    # Message-log retention.
    "MESSAGE_LOG_DAYS": 30,
    # Bearer token that may read /metrics (empty: operators only).
    "METRICS_TOKEN": "",
    # Seconds after an accepted boot in which a station may report its
    # connectors (StatusNotification) by itself before it is asked to
    # (TriggerMessage): most do, and a second request would meet an operator's.
    "STATUS_TRIGGER_DELAY": 60.0,
    # Frames larger than this are refused with close code 1009.
    "MAX_FRAME_BYTES": 1024 * 1024,
    # How often presence (last seen) is flushed and a process proves it lives.
    "PRESENCE_FLUSH_SECONDS": 10,
    # A process whose liveness key is older than this is considered dead.
    "PRESENCE_PROCESS_TTL": 30,
    # Most frames committed in one group-commit transaction.
    "MAX_BATCH": 500,
    # Seconds: a station sending meter samples closer together than this has
    # its session's live energy and cost refreshed at most this often (each
    # sample still stored at once, the latest priced at most this late). Samples
    # this far apart, as stations send them, are each priced before their
    # frame is answered (with their commit, or on the loop's right after it).
    "LIVE_SESSION_SECONDS": 1.0,
    # lenient | strict: the tolerance policy of stations that set none. Lenient
    # takes a frame whose only schema faults are known vendor quirks (and
    # records them); strict answers it with the schema's CALLERROR.
    "TOLERANCE": "lenient",
}


class _GatewaySettings:
    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(name)
        return getattr(settings, "OCPP", {}).get(name, DEFAULTS[name])


gateway_settings = _GatewaySettings()
