"""What `/metrics` answers: the counters of every process (the multiprocess
directory's sum, or this process's), plus gauges measured now, network-wide,
from presence and the database."""

import logging
import os

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from billing import statistics as billing_statistics
from ocpp_gateway import presence
from stations import statistics as station_statistics

logger = logging.getLogger(__name__)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class NetworkCollector:
    """Gauges of the whole network, read at scrape time. Every process answers
    the same values: aggregate them across scraped processes with `max`, not `sum`."""

    def describe(self):
        # Names only: without this the registry would collect (query the
        # database) when the collector is registered, at import.
        for name in (
            "evpower_stations_connected",
            "evpower_process_stations_connected",
            "evpower_transactions_active",
            "evpower_sessions_active",
            "evpower_connectors",
        ):
            yield GaugeMetricFamily(name, "")

    def collect(self):
        try:
            connected = len(presence.connections())
        except Exception:
            logger.warning("Metrics: presence unreachable", exc_info=True)
        else:
            yield _gauge("evpower_stations_connected", "Stations connected now, all processes.", connected)
        if not multiprocess():
            # Answered by whichever process is scraped: only meaningful alone.
            yield _gauge(
                "evpower_process_stations_connected",
                "Stations connected to this process.",
                presence.local_count(),
            )
        try:
            open_transactions = billing_statistics.transactions_open_count()
            sessions = billing_statistics.sessions_active_by_status()
            connectors = station_statistics.connectors_by_status()
        except Exception:
            logger.warning("Metrics: database unreachable", exc_info=True)
            return
        yield _gauge(
            "evpower_transactions_active", "Transactions started and not stopped.", open_transactions
        )
        yield _gauge_by(
            "evpower_sessions_active", "Charging sessions not yet ended, by status.", "status", sessions
        )
        yield _gauge_by(
            "evpower_connectors", "Connectors by their last reported status.", "status", connectors
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _gauge_by(name: str, documentation: str, label: str, values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


_network = NetworkCollector()
REGISTRY.register(_network)


def metrics_text() -> bytes:
    """The Prometheus text exposition of everything above."""
    if not multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_network)
    return generate_latest(registry)
