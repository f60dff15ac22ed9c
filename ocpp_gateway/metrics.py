"""Prometheus metrics of this process (scrape every process; the connected
count is network-wide, read from presence at scrape time)."""

import hmac

from prometheus_client import Counter, Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily

from ocpp_gateway import presence

messages = Counter(
    "evpower_ocpp_messages_total",
    "OCPP frames by direction, message type and action.",
    ["direction", "message_type", "action"],
)
errors = Counter(
    "evpower_ocpp_errors_total",
    "CALLERRORs by direction and error code.",
    ["direction", "code"],
)
command_latency = Histogram(
    "evpower_ocpp_command_seconds",
    "Time from sending a central-system command to its outcome.",
    ["action", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class _ConnectedCollector:
    def collect(self):
        network = GaugeMetricFamily("evpower_stations_connected", "Stations connected now, all processes.")
        try:
            network.add_metric([], len(presence.connections()))
        except Exception:
            return
        yield network
        local = GaugeMetricFamily("evpower_process_stations_connected", "Stations connected to this process.")
        local.add_metric([], presence.local_count())
        yield local


REGISTRY.register(_ConnectedCollector())


def token_matches(presented: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())
