"""Which stations exist: registering, changing and deleting them, who may
connect as one, and when each was last seen."""

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, RestrictedError

from ocpp_gateway import commands
from stations.models import RegistrationStatus, Station

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationRef:
    """What a connection needs to know about its station."""

    pk: int
    station_id: str
    password_hash: str
    registration_status: str
    # Its own tolerance policy; "" for the network default.
    tolerance: str = ""


_REF_FIELDS = ("pk", "station_id", "password_hash", "registration_status", "tolerance")


def _ref(station: Station) -> StationRef:
    return StationRef(*(getattr(station, name) for name in _REF_FIELDS))


def station_for_connection(*, station_id: str, unknown_policy: str) -> StationRef | None:
    """The station connecting now; unknown ids registered per policy, or None (refuse)."""
    # Plain values: a reconnect storm asks this once per station.
    known = Station.objects.filter(station_id=station_id).values_list(*_REF_FIELDS).first()
    if known is not None:
        return StationRef(*known)
    if unknown_policy == "reject":
        return None
    status = RegistrationStatus.PENDING if unknown_policy == "pending" else RegistrationStatus.ACCEPTED
    try:
        with transaction.atomic():
            station = Station.objects.create(station_id=station_id, registration_status=status)
    except IntegrityError:
        # Registered meanwhile by its own connection to another process.
        station = Station.objects.get(station_id=station_id)
    return _ref(station)


def stations_for_connection(*, station_ids: list[str], unknown_policy: str) -> dict[str, StationRef | None]:
    """`station_for_connection` of many stations connecting at once (a
    reconnect storm): the known ones in one query per thousand."""
    found: dict[str, StationRef | None] = {}
    for start in range(0, len(station_ids), 1000):
        chunk = station_ids[start : start + 1000]
        for station in Station.objects.filter(station_id__in=chunk).only(
            "pk", "station_id", "password_hash", "registration_status", "tolerance"
        ):
            found[station.station_id] = _ref(station)
    unknown = [station_id for station_id in station_ids if station_id not in found]
    if unknown_policy == "reject":
        # Asked again one by one they would only be None, each a query the
        # whole batch (and the writer's next commits) waited for.
        found.update(dict.fromkeys(unknown))
    elif unknown:
        # One commit for all of them (each registration is its own savepoint).
        with transaction.atomic():
            for station_id in unknown:
                found[station_id] = station_for_connection(
                    station_id=station_id, unknown_policy=unknown_policy
                )
    return found


@lru_cache(maxsize=50_000)
def station_password_ok(password_hash: str, raw: str) -> bool:
    """Check a station's Basic-auth password. Cached: the hash is deliberately
    slow, and a fleet reconnecting after a restart must not pay it each time."""
    return check_password(raw, password_hash)


class StationIdTaken(Exception):
    """Another station already has this id."""


class StationInUse(Exception):
    """The station has billing history (transactions, sessions) and cannot be deleted."""


def station_create(
    *,
    station_id: str,
    password: str | None = None,
    registration_status: str = RegistrationStatus.ACCEPTED,
    time_zone: str | None = None,
    vendor: str = "",
    model: str = "",
    serial_number: str = "",
    tolerance: str = "",
) -> Station:
    """Register a station; raises StationIdTaken."""
    station = Station(
        station_id=station_id,
        registration_status=registration_status,
        time_zone=time_zone or settings.STATION_TIME_ZONE,
        vendor=vendor,
        model=model,
        serial_number=serial_number,
        tolerance=tolerance,
    )
    station.set_password(password)
    try:
        with transaction.atomic():
            station.save()
    except IntegrityError as exc:
        raise StationIdTaken(station_id) from exc
    return station


# The tolerance policy takes effect when the station next connects.
STATION_EDITABLE = ("registration_status", "time_zone", "vendor", "model", "serial_number", "tolerance")


def station_update(*, station: Station, data: dict) -> Station:
    """Change a station's settings. `password` None or "" clears it; absent keeps it."""
    fields = [name for name in STATION_EDITABLE if name in data]
    for name in fields:
        setattr(station, name, data[name])
    if "password" in data:
        station.set_password(data["password"])
        fields.append("password_hash")
    if fields:
        station.save(update_fields=fields)
    return station


def station_delete(*, station: Station) -> None:
    """Delete a station and drop its live connection; raises StationInUse.

    A socket left open would keep writing rows for a primary key that no
    longer exists, so the connection is closed once the delete is committed.
    """
    address = _ref(station)  # the pk is gone once deleted
    try:
        with transaction.atomic():
            station.delete()
            transaction.on_commit(lambda: commands.station_disconnect(station=address))
    except (ProtectedError, RestrictedError) as exc:
        raise StationInUse(station.station_id) from exc


def stations_last_seen_update(*, seen: dict[str, datetime]) -> None:
    # One UPDATE per distinct second keeps this to a handful of statements
    # even for thousands of stations.
    by_time: dict[datetime, list[str]] = {}
    for station_id, ts in seen.items():
        by_time.setdefault(ts.replace(microsecond=0), []).append(station_id)
    for ts, ids in by_time.items():
        Station.objects.filter(Q(station_id__in=ids) & (Q(last_seen__lt=ts) | Q(last_seen=None))).update(
            last_seen=ts
        )
