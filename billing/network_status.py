"""The live network view of the staff dashboard: every station with its
connectors and running sessions, and the energy delivered today by hour."""

import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import Prefetch

from billing.models import MeterValue, Session, SessionStatus, Transaction
from billing.sessions import KWH
from billing.transactions import ENERGY_REGISTER
from ocpp_gateway import presence
from stations.models import Connector, Station

RUNNING = (SessionStatus.STARTING, SessionStatus.CHARGING, SessionStatus.STOPPING)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def network_stations(*, station_pks: list[int] | None = None) -> list[dict]:
    """Stations (all, or those of `station_pks`) as the dashboard shows them: three queries in all."""
    stations = Station.objects.prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id")),
        Prefetch(
            "sessions",
            queryset=Session.objects.filter(status__in=RUNNING).order_by("connector_id"),
            to_attr="running",
        ),
    ).order_by("station_id")
    if station_pks is not None:
        stations = stations.filter(pk__in=station_pks)
    online = {entry["station_id"]: entry for entry in presence.connections()}
    return [
        {
            "id": station.pk,
            "station_id": station.station_id,
            "online": station.station_id in online,
            "time_zone": station.time_zone,
            "vendor": station.vendor,
            "model": station.model,
            "connectors": [
                {"connector_id": c.connector_id, "status": c.status, "error_code": c.error_code}
                for c in station.connectors.all()
            ],
            "sessions": [
                {
                    "id": s.pk,
                    "connector_id": s.connector_id,
                    "id_tag": s.id_tag,
                    "status": s.status,
                    "energy_kwh": f"{s.energy_kwh:.3f}",
                    "cost": f"{s.cost:.2f}",
                    "currency": s.currency,
                    "started_at": _iso(s.started_at),
                }
                for s in station.running
            ],
        }
        for station in stations
    ]


def energy_today(*, now: datetime, zone: str | None = None) -> dict:
    """kWh delivered in each hour of today (in `zone`, the network's by default), from
    the energy-register samples of every transaction: each sample counts what
    its transaction delivered since the one before (or since its start)."""
    tz = zoneinfo.ZoneInfo(zone or settings.STATION_TIME_ZONE)
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = [Decimal(0)] * 24
    samples = (
        MeterValue.objects.filter(
            timestamp__gte=midnight,
            timestamp__lt=midnight + timedelta(days=1),
            measurand=ENERGY_REGISTER,
            unit="Wh",
            phase="",
            transaction__isnull=False,
        )
        .order_by("transaction_id", "timestamp", "id")
        .values_list("transaction_id", "timestamp", "value")
    )
    starts = dict(
        Transaction.objects.filter(started_at__gte=midnight).values_list("transaction_id", "meter_start")
    )
    previous: dict[int, Decimal] = {}
    for tx_id, at, raw in samples:
        try:
            value = Decimal(raw)
        except InvalidOperation:
            continue
        before = previous.get(tx_id, starts.get(tx_id))
        previous[tx_id] = value
        if before is not None and value >= Decimal(before):
            hours[at.astimezone(tz).hour] += (value - Decimal(before)) / KWH
    return {
        "time_zone": tz.key,
        "date": midnight.date().isoformat(),
        "hours": [f"{h:.3f}" for h in hours],
        "total_kwh": f"{sum(hours):.3f}",
    }
