"""Reads behind the station management API: stations with their live
presence, status pages, id tags visible to a user, the message log."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from billing.models import Transaction
from evpower.models import Role
from ocpp_gateway import presence
from stations.models import Connector, IdTag, MessageLog, Station

KWH = Decimal("1000")


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


def id_tag_list(*, user) -> QuerySet[IdTag]:
    """The tags `user` may read: all for operator+, a client's own otherwise."""
    tags = IdTag.objects.order_by("-created_at", "-id")
    if user.has_role(Role.OPERATOR):
        return tags
    return tags.filter(owner=user)


def id_tag_get(*, id_tag: str) -> IdTag | None:
    # Tags are OCPP CiStrings: `abc` and `ABC` are the same tag.
    return IdTag.objects.filter(id_tag__iexact=id_tag).first()


def message_log_list() -> QuerySet[MessageLog]:
    return MessageLog.objects.order_by("-created_at", "-id")


@dataclass
class ActiveTransaction:
    transaction_id: int
    connector_id: int
    id_tag: str | None
    meter_start: int
    started_at: datetime
    energy_kwh: Decimal
    last_meter_at: datetime | None


@dataclass
class StationStatus:
    station: Station
    online: bool
    connected_since: datetime | None
    last_seen: datetime | None
    connectors: list[Connector]
    active_transactions: list[ActiveTransaction] = field(default_factory=list)


def _own_tags(user) -> set[str] | None:
    """Lower-cased ids of the tags `user` owns; None when it may see every tag."""
    if user.has_role(Role.OPERATOR):
        return None
    return {t.lower() for t in IdTag.objects.filter(owner=user).values_list("id_tag", flat=True)}


def station_status_get(*, station_id: str, user) -> StationStatus | None:
    """Everything `GET /ocpp/status/{station_id}` shows. A client sees the id
    tag of an active transaction only when the tag is its own."""
    station = station_get(station_id=station_id)
    if station is None:
        return None
    live = presence.connection_get(station.station_id)
    own = _own_tags(user)
    active = []
    for tx in Transaction.objects.filter(station=station, stopped_at__isnull=True).order_by(
        "-transaction_id"
    ):
        meter_now = tx.last_meter_wh if tx.last_meter_wh is not None else tx.meter_start
        energy = max(Decimal(meter_now - tx.meter_start), Decimal(0)) / KWH
        active.append(
            ActiveTransaction(
                transaction_id=tx.transaction_id,
                connector_id=tx.connector_id,
                id_tag=tx.id_tag if own is None or tx.id_tag.lower() in own else None,
                meter_start=tx.meter_start,
                started_at=tx.started_at,
                energy_kwh=energy.quantize(Decimal("0.001")),
                last_meter_at=tx.last_meter_at,
            )
        )
    return StationStatus(
        station=station,
        online=live is not None,
        connected_since=datetime.fromisoformat(live["connected_since"]) if live else None,
        last_seen=last_seen(station=station, live=live),
        connectors=list(station.connectors.all()),
        active_transactions=active,
    )
