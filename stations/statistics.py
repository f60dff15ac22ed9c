"""Counts of the network's connectors by their last reported status (for `/metrics`)."""

from django.db.models import Count

from stations.models import Connector

# OCPP 1.6 ChargePointStatus values: always reported, zero included.
CONNECTOR_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)


def connectors_by_status() -> dict[str, int]:
    """Connectors (not connector 0, the station itself) per last reported
    status; one never reported is `Unknown`."""
    counts = dict.fromkeys(CONNECTOR_STATUSES, 0)
    rows = (
        Connector.objects.filter(connector_id__gt=0).order_by().values_list("status").annotate(n=Count("id"))
    )
    for status, n in rows:
        key = status or "Unknown"
        counts[key] = counts.get(key, 0) + n
    return counts
