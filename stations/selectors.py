"""Reads behind the station management API: stations with their live
presence, id tags visible to a user."""

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from evpower.errors import NotFound
from ocpp_gateway import presence
from stations.models import Connector, IdTag, Station


def station_list() -> QuerySet[Station]:
    """Every station, newest first, connectors prefetched."""
    return Station.objects.prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
    ).order_by("-created_at", "-id")


def station_get(*, station_id: str) -> Station | None:
    return station_list().filter(station_id=station_id).first()


def presence_all() -> dict[str, dict]:
    """Live presence of every connected station, by station id: one round trip,
    whatever the number of stations listed."""
    return {entry["station_id"]: entry for entry in presence.connections()}


def presence_of(*, station_id: str) -> dict[str, dict]:
    """Live presence of one station, in the shape of `presence_all`."""
    entry = presence.connection_get(station_id)
    return {station_id: entry} if entry is not None else {}


def last_seen(*, station: Station, live: dict | None) -> datetime | None:
    """The later of the stored last_seen and the live one: presence is flushed
    to the database only every few seconds, and keeps nothing once offline."""
    stored = station.last_seen
    current = datetime.fromisoformat(live["last_seen"]) if live else None
    if stored is None or current is None:
        return stored or current
    return max(stored, current)


def id_tag_get(*, id_tag: str) -> IdTag | None:
    # Tags are OCPP CiStrings: `abc` and `ABC` are the same tag.
    return IdTag.objects.filter(id_tag__iexact=id_tag).first()


def station_or_404(station_id: str) -> Station:
    station = Station.objects.filter(station_id=station_id).first()
    if station is None:
        raise NotFound("not_found", "Unknown station.")
    return station
