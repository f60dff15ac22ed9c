"""A station's status page: live presence, connectors and the transactions
running on it now (`GET /ocpp/status/{station_id}`)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.models import Transaction
from billing.sessions import KWH
from evpower.api.permissions import has_role
from evpower.models import Role
from ocpp_gateway import presence
from stations.id_tags import id_tags_visible
from stations.models import Connector, Station
from stations.selectors import last_seen, station_get


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
    if has_role(user, Role.OPERATOR):
        return None
    return {t.lower() for t in id_tags_visible(user=user).values_list("id_tag", flat=True)}


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
