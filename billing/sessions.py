"""Charging sessions, their whole lifecycle: created from the API, started and
stopped at the station, linked to the transaction the station reports,
priced live from its meter values, stopped at a limit, billed at the end;
and the ones a station never started, failed.

Pricing never stops charging. A session whose tariff cannot be priced (one
stored before tariffs were validated) or whose pricing fails (a station's
unknown time zone) is flagged with `pricing_error` and charges on: the
transaction is stored, energy counted, the cost left at its last good value
(0 without a snapshot). It is priced again when its tariff is saved valid
(`sessions_reprice`): a session that could take no snapshot takes the fixed
tariff's, one that has a snapshot keeps it; either is billed from its stored
meter readings like a final bill (up to the latest sample while running)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import chain

from django.db import transaction as db_transaction
from django.db.models import F, Q, QuerySet

from billing.models import MeterValue, Session, SessionStatus, SessionStopReason, Tariff, Transaction
from billing.pricing import MeterReading, PricingError, price_session
from billing.tariffs import snapshot_prices, tariff_applicable, tariff_snapshot
from evpower.api.permissions import has_role
from evpower.errors import Conflict, Invalid
from evpower.models import Role
from ocpp_gateway import commands
from stations.id_tags import id_tag_info, id_tag_use_check
from stations.models import Connector, IdTag, RegistrationStatus, Station

ENERGY_REGISTER = "Energy.Active.Import.Register"
KWH = Decimal("1000")
WAITING = (SessionStatus.CREATED, SessionStatus.STARTING)
FINISHED = (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED)
# A station that accepted RemoteStartTransaction but sent no StartTransaction
# within this long will not start: OCPP's ConnectionTimeOut (how long it waits
# for the cable) is typically 60-120 s.
START_TIMEOUT_SECONDS = 180
# Connector ids accepted when the station has not reported its connectors yet.
MAX_CONNECTORS = 100

# How a failed RemoteStartTransaction call is recorded: sent but unanswered may still start.
_SEND_FAILURES = {
    commands.NOT_CONNECTED: SessionStopReason.NOT_CONNECTED,
    commands.STATION_ERROR: SessionStopReason.STATION_ERROR,
    commands.TIMEOUT: SessionStopReason.NO_REPLY,
    commands.DISCONNECTED: SessionStopReason.NO_REPLY,
}


# From the API ------------------------------------------------------------------


def sessions_visible(*, user) -> QuerySet[Session]:
    """The sessions `user` may see: operators and above all, a client its own."""
    sessions = Session.objects.select_related("station")
    if not getattr(user, "is_authenticated", False):
        return sessions.none()
    if has_role(user, Role.OPERATOR):
        return sessions
    return sessions.filter(user=user)


def _invalid(field: str, message: str) -> Invalid:
    return Invalid.field(field, message)


def _station_usable(*, station_id: str) -> Station:
    station = Station.objects.filter(station_id=station_id).first()
    if station is None:
        raise _invalid("station_id", "Unknown station.")
    if station.registration_status != RegistrationStatus.ACCEPTED:
        raise _invalid("station_id", f"The station's registration is {station.registration_status}.")
    return station


def _configured_connectors(station: Station) -> int | None:
    """NumberOfConnectors from the station's stored configuration, if known."""
    value = (station.configuration or {}).get("NumberOfConnectors")
    if isinstance(value, dict):
        value = value.get("value")
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _connector_check(*, station: Station, connector_id: int) -> None:
    # Connector 0 is the station as a whole: nothing charges on it.
    known = sorted(
        Connector.objects.filter(station=station, connector_id__gt=0).values_list("connector_id", flat=True)
    )
    if known:
        if connector_id not in known:
            listed = ", ".join(map(str, known))
            raise _invalid("connector_id", f"The station has connectors {listed}.")
        return
    count = _configured_connectors(station) or MAX_CONNECTORS
    if not 1 <= connector_id <= count:
        raise _invalid("connector_id", f"Connector ids of this station are 1 to {count}.")


def _tag_usable(*, actor, id_tag: str, now: datetime) -> IdTag:
    """The tag, if `actor` may charge with it and the station would accept it."""
    tag = IdTag.objects.filter(id_tag__iexact=id_tag).first()  # CiString
    if tag is None:
        raise _invalid("id_tag", "Unknown id tag.")
    id_tag_use_check(actor=actor, tag=tag)
    status = id_tag_info(id_tag=tag.id_tag, now=now)["status"]
    if status != "Accepted":
        raise _invalid("id_tag", f"This id tag is {status}.")
    return tag


def _tariff_chosen(*, station: Station, tariff_id: int | None, now: datetime) -> Tariff | None:
    if tariff_id is None:
        return tariff_applicable(station_pk=station.pk, at=now)
    tariff = Tariff.objects.filter(pk=tariff_id, is_active=True).first()
    if tariff is None:
        raise _invalid("tariff_id", "Unknown or archived tariff.")
    if (tariff.valid_from and tariff.valid_from > now) or (tariff.valid_to and tariff.valid_to <= now):
        raise _invalid("tariff_id", "This tariff is not valid now.")
    # Otherwise a driver could pick another station's (cheaper) prices.
    stations = set(tariff.stations.values_list("pk", flat=True))
    if stations and station.pk not in stations:
        raise _invalid("tariff_id", "This tariff does not apply to this station.")
    return tariff


def _limits_check(*, tariff_snapshot: dict | None, limit_amount: Decimal | None) -> None:
    if limit_amount is not None and not tariff_snapshot:
        raise _invalid("limit_amount", "No tariff prices this session, so it cannot have a cost limit.")


def session_create(
    *,
    actor,
    station_id: str,
    connector_id: int,
    id_tag: str,
    tariff_id: int | None = None,
    limit_kwh: Decimal | None = None,
    limit_amount: Decimal | None = None,
    now: datetime,
) -> Session:
    """A session waiting to start, billed to the tag's owner by the prices of now.

    Raises Invalid for bad input, Forbidden for another's tag."""
    station = _station_usable(station_id=station_id)
    _connector_check(station=station, connector_id=connector_id)
    tag = _tag_usable(actor=actor, id_tag=id_tag, now=now)
    tariff = _tariff_chosen(station=station, tariff_id=tariff_id, now=now)
    session = Session(
        user_id=tag.owner_id,
        station=station,
        connector_id=connector_id,
        id_tag=tag.id_tag,
        limit_kwh=limit_kwh,
        limit_amount=limit_amount,
    )
    if tariff is not None:
        _tariff_take(session, tariff)
    _limits_check(tariff_snapshot=session.tariff_snapshot, limit_amount=limit_amount)
    session.save()
    return session


def _tariff_take(session: Session, tariff: Tariff) -> None:
    """Bill `session` by `tariff`'s prices of now; a tariff that cannot be priced flags it."""
    session.tariff = tariff
    try:
        session.tariff_snapshot = tariff_snapshot(tariff)
    except PricingError as exc:
        session.tariff_snapshot, session.currency = None, ""
        session.pricing_error = f"Tariff {tariff.pk} ({tariff.name}) cannot be priced: {exc}"
        return
    session.currency = tariff.currency
    session.pricing_error = ""


def session_start(
    *,
    actor,
    session: Session,
    limit_kwh: Decimal | None = None,
    limit_amount: Decimal | None = None,
    now: datetime,
) -> tuple[Session, dict]:
    """Send RemoteStartTransaction for a `created` session; return it and the station's reply.

    The session is `starting` (committed) before the call goes out: the station's
    StartTransaction may arrive before its reply does. Refused by the station:
    `failed`. Not sent or not answered: `failed`, and CommandFailed is raised."""
    _tag_usable(actor=actor, id_tag=session.id_tag, now=now)  # may have been blocked meanwhile
    if session.status != SessionStatus.CREATED:
        raise Conflict("invalid_state", f"The session is {session.status}, not created.")
    changes = {"status": SessionStatus.STARTING, "remote_start_at": now, "updated_at": now}
    if limit_kwh is not None:
        changes["limit_kwh"] = limit_kwh
    if limit_amount is not None:
        _limits_check(tariff_snapshot=session.tariff_snapshot, limit_amount=limit_amount)
        changes["limit_amount"] = limit_amount
    if not Session.objects.filter(pk=session.pk, status=SessionStatus.CREATED).update(**changes):
        raise Conflict("invalid_state", "The session is being started already.")
    payload = {"connectorId": session.connector_id, "idTag": session.id_tag}
    try:
        response = commands.station_command(
            station=session.station, action="RemoteStartTransaction", payload=payload
        )
    except commands.CommandFailed as exc:
        _start_fail(session=session, reason=_SEND_FAILURES[exc.reason], now=now)
        raise
    except Exception:
        # The channel layer itself failed: the command most likely never left.
        _start_fail(session=session, reason=SessionStopReason.NOT_CONNECTED, now=now)
        raise
    if not isinstance(response, dict) or response.get("status") != "Accepted":
        _start_fail(session=session, reason=SessionStopReason.REJECTED, now=now)
    session.refresh_from_db()
    return session, response


def _start_fail(*, session: Session, reason: str, now: datetime) -> None:
    # Conditional: if the StartTransaction already came in, the session is
    # charging whatever the reply said, and stays so.
    Session.objects.filter(pk=session.pk, status=SessionStatus.STARTING, transaction__isnull=True).update(
        status=SessionStatus.FAILED, stop_reason=reason, stopped_at=now, updated_at=now
    )


def session_stop(*, session: Session, now: datetime) -> tuple[Session, dict | None]:
    """Stop a session: a `created` one is cancelled (no message); a charging one
    gets RemoteStopTransaction and is `stopping` until StopTransaction bills it.

    Returns the session and the station's reply (None when nothing was sent).
    Conflict for a session in any other state, or CommandFailed."""
    if session.status == SessionStatus.CREATED:
        cancelled = Session.objects.filter(pk=session.pk, status=SessionStatus.CREATED).update(
            status=SessionStatus.CANCELLED,
            stopped_at=now,
            stop_reason=SessionStopReason.CANCELLED,
            updated_at=now,
        )
        session.refresh_from_db()
        if not cancelled:
            raise Conflict("invalid_state", f"The session is {session.status} now.")
        return session, None
    running = (SessionStatus.CHARGING, SessionStatus.STOPPING)
    if session.status not in running or session.transaction_id is None:
        raise Conflict("invalid_state", f"A {session.status} session cannot be stopped.")
    # `stopping` may be asked again: a station that lost the first RemoteStop gets another.
    marked = Session.objects.filter(pk=session.pk, status=SessionStatus.CHARGING).update(
        status=SessionStatus.STOPPING, updated_at=now
    )
    payload = {"transactionId": session.transaction_id}
    try:
        response = commands.station_command(
            station=session.station, action="RemoteStopTransaction", payload=payload
        )
    except Exception:
        if marked:
            _stop_undo(session=session, now=now)
        raise
    if marked and (not isinstance(response, dict) or response.get("status") != "Accepted"):
        _stop_undo(session=session, now=now)
    session.refresh_from_db()
    return session, response


def _stop_undo(*, session: Session, now: datetime) -> None:
    """The stop did not go through: still charging (unless a limit stop is on its way)."""
    Session.objects.filter(
        pk=session.pk, status=SessionStatus.STOPPING, limit_stop_sent_at__isnull=True
    ).update(status=SessionStatus.CHARGING, updated_at=now)


def sessions_fail_stale(*, now: datetime) -> int:
    """Fail sessions whose RemoteStart was accepted but never led to a transaction.

    Returns how many. A station reboot alone fails nothing: it may still start."""
    deadline = now - timedelta(seconds=START_TIMEOUT_SECONDS)
    return Session.objects.filter(
        Q(remote_start_at__lt=deadline) | Q(remote_start_at__isnull=True, updated_at__lt=deadline),
        status=SessionStatus.STARTING,
        transaction__isnull=True,
    ).update(
        status=SessionStatus.FAILED,
        stop_reason=SessionStopReason.NEVER_STARTED,
        stopped_at=now,
        updated_at=now,
    )


# From the station (on the gateway's writer thread) -------------------------------


@dataclass(slots=True)
class LiveSession:
    """What the live update reads and writes of a running session: the hot
    path's stand-in for a Session instance (limit_reached, limit_stop_claim
    and session_price_live take either)."""

    pk: int
    tariff_snapshot: dict | None
    limit_kwh: Decimal | None
    limit_amount: Decimal | None
    limit_stop_sent_at: datetime | None
    energy_kwh: Decimal
    cost: Decimal
    currency: str
    pricing_error: str


def session_link(*, tx: Transaction, owner_id: int | None, now: datetime) -> Session:
    """The session this new transaction belongs to: the one waiting for it, else
    a new one billed to `owner_id` (the tag's owner, None for none)."""
    # One query: the sessions waiting for it and one whose RemoteStart's reply
    # was lost or late, though the station did start (that session, and its
    # limits, is the one charging after all). The remote-started one first;
    # a session only created is next; the lost-reply one last.
    candidates = list(
        Session.objects.filter(
            Q(status__in=WAITING)
            | Q(
                status=SessionStatus.FAILED,
                stop_reason=SessionStopReason.NO_REPLY,
                remote_start_at__gte=now - timedelta(seconds=START_TIMEOUT_SECONDS),
            ),
            station_id=tx.station_id,
            connector_id=tx.connector_id,
            id_tag__iexact=tx.id_tag,
            transaction__isnull=True,
        ).order_by(F("remote_start_at").desc(nulls_last=True), "-created_at", "-id")
    )
    waiting = [c for c in candidates if c.status in WAITING]
    session = (waiting or candidates or [None])[0]
    if session is not None and session.status == SessionStatus.FAILED:
        session.stopped_at, session.stop_reason = None, ""
    if session is None:
        # Started at the station itself (RFID, free vend): billed all the same.
        session = Session(
            station_id=tx.station_id,
            connector_id=tx.connector_id,
            id_tag=tx.id_tag,
            user_id=owner_id,
        )
    if session.tariff_snapshot is None:
        tariff = tariff_applicable(station_pk=tx.station_id, at=tx.started_at)
        if tariff is not None:
            _tariff_take(session, tariff)
    session.transaction = tx
    session.status = SessionStatus.CHARGING
    session.started_at = tx.started_at
    session.save()
    return session


def limit_stop_claim(session: Session | LiveSession, at: datetime) -> bool:
    """Mark the limit stop as sent; False if it already was (it is sent once)."""
    claimed = Session.objects.filter(pk=session.pk, limit_stop_sent_at__isnull=True).update(
        limit_stop_sent_at=at
    )
    if claimed:
        Session.objects.filter(pk=session.pk, status=SessionStatus.CHARGING).update(
            status=SessionStatus.STOPPING
        )
        session.limit_stop_sent_at = at
    return bool(claimed)


def limit_reached(session: Session | LiveSession) -> bool:
    if session.limit_kwh is not None and session.energy_kwh >= session.limit_kwh:
        return True
    return bool(
        session.limit_amount is not None and session.tariff_snapshot and session.cost >= session.limit_amount
    )


def session_price(
    *, session: Session, tx: Transaction, ended_at: datetime, meter_end, readings: list | None
) -> bool:
    """Energy and cost of the session up to `ended_at` (live or final).

    True if the cost was computed. Pricing that fails sets `pricing_error` and
    leaves the cost as it was; without a snapshot, only energy is counted."""
    return _price(
        session,
        time_zone=tx.station.time_zone,
        started_at=tx.started_at,
        meter_start=tx.meter_start,
        ended_at=ended_at,
        meter_end=meter_end,
        readings=readings,
    )


def session_price_live(
    *,
    session: LiveSession,
    time_zone: str,
    started_at: datetime,
    meter_start: int,
    ended_at: datetime,
    meter_end,
) -> bool:
    """session_price from meterStart to the latest reading, for a running session."""
    return _price(
        session,
        time_zone=time_zone,
        started_at=started_at,
        meter_start=meter_start,
        ended_at=ended_at,
        meter_end=meter_end,
        readings=None,
    )


def _price(
    session,
    *,
    time_zone: str,
    started_at: datetime,
    meter_start: int,
    ended_at: datetime,
    meter_end,
    readings,
) -> bool:
    if readings is None:
        readings = [
            MeterReading(started_at, Decimal(meter_start)),
            MeterReading(ended_at, Decimal(meter_end)),
        ]
    energy = (max(Decimal(meter_end) - Decimal(meter_start), Decimal(0)) / KWH).quantize(Decimal("0.001"))
    if energy >= _ENERGY_LIMIT:
        session.pricing_error = f"Cannot be priced: {energy} kWh is more than a session holds"
        return False
    session.energy_kwh = energy
    if not session.tariff_snapshot:
        return False
    try:
        bill = price_session(
            tariff=snapshot_prices(session.tariff_snapshot),
            time_zone=time_zone,
            readings=readings,
            started_at=started_at,
            ended_at=ended_at,
        )
    except (PricingError, ArithmeticError) as exc:
        session.pricing_error = f"Cannot be priced: {exc}"
        return False
    if abs(bill.total) >= _COST_LIMIT:
        session.pricing_error = f"Cannot be priced: a cost of {bill.total} is more than a session holds"
        return False
    session.cost = bill.total
    session.currency = bill.currency
    session.pricing_error = ""
    return True


def _column_limit(name: str) -> Decimal:
    field = Session._meta.get_field(name)
    return Decimal(10) ** (field.max_digits - field.decimal_places)


# What the session's columns hold: a meter's absurd register (a 4294967295
# sentinel, a counter gone wild) flags the session for staff instead of
# failing the commit it shares with other stations' frames.
_ENERGY_LIMIT = _column_limit("energy_kwh")
_COST_LIMIT = _column_limit("cost")


def _readings(
    tx: Transaction, *, meter_end: int, ended_at: datetime, unstored: Iterable[tuple] = ()
) -> list[MeterReading]:
    """Every energy register sample of `tx` (stored, and `unstored` ones as
    (timestamp, Wh value, location)), from meterStart to `meter_end`."""
    readings = [MeterReading(tx.started_at, Decimal(tx.meter_start))]
    samples = MeterValue.objects.filter(
        transaction=tx, station_id=tx.station_id, measurand=ENERGY_REGISTER, phase="", unit="Wh"
    ).values_list("timestamp", "value", "location")
    for timestamp, value, location in chain(samples, unstored):
        if location in ("", "Outlet") and tx.started_at <= timestamp <= ended_at:
            try:
                readings.append(MeterReading(timestamp, Decimal(value)))
            except ArithmeticError:
                continue
    readings.append(MeterReading(ended_at, Decimal(meter_end)))
    return readings


def session_bill(
    *, tx: Transaction, meter_end: int, ended_at: datetime, reason: str, unstored: Iterable[tuple] = ()
) -> Session | None:
    """Final bill: every energy register sample (stored, and `unstored` as
    `_readings` takes them), ending at meterStop."""
    session = Session.objects.filter(transaction=tx).first()
    if session is None:
        return None
    readings = _readings(tx, meter_end=meter_end, ended_at=ended_at, unstored=unstored)
    session_price(session=session, tx=tx, ended_at=ended_at, meter_end=meter_end, readings=readings)
    session.status = SessionStatus.COMPLETED
    session.stopped_at = ended_at
    session.stop_reason = reason
    if not session.tariff_snapshot:
        session.cost = Decimal("0.00")
    session.save()
    return session


@db_transaction.atomic
def sessions_reprice(*, tariff: Tariff) -> int:
    """Price the sessions `tariff` left flagged, now that it is valid; returns how many were.

    Without a snapshot a session takes the tariff's prices of now; with one it
    keeps them. Billed from the stored meter readings: to meterStop when the
    transaction ended, to the latest sample while it runs."""
    try:
        snapshot = tariff_snapshot(tariff)
    except PricingError:
        return 0  # still bad: its sessions stay flagged
    priced = 0
    flagged = Session.objects.filter(tariff=tariff).exclude(pricing_error="").order_by("pk")
    for session_pk, tx_pk in flagged.values_list("pk", "transaction_id"):
        # Locked as StopTransaction locks (FOR NO KEY UPDATE), transaction then
        # session: a bill is never computed from a half-stopped transaction.
        # (The meter moves of open transactions lock in their own order: a
        # deadlock with them is possible, and PostgreSQL ends it.)
        tx = (
            Transaction.objects.select_for_update(of=("self",), no_key=True)
            .select_related("station")
            .filter(pk=tx_pk)
            .first()
        )
        session = Session.objects.select_for_update().filter(pk=session_pk).exclude(pricing_error="").first()
        if session is None:
            continue  # priced meanwhile
        if not session.tariff_snapshot:
            session.tariff_snapshot, session.currency = snapshot, tariff.currency
        if tx is None:
            session.pricing_error = ""  # not started: the snapshot is all it needs
        elif tx.stopped_at is not None:
            readings = _readings(tx, meter_end=tx.meter_stop, ended_at=tx.stopped_at)
            session_price(
                session=session, tx=tx, ended_at=tx.stopped_at, meter_end=tx.meter_stop, readings=readings
            )
        else:
            meter_end = tx.meter_start if tx.last_meter_wh is None else tx.last_meter_wh
            ended_at = tx.last_meter_at or tx.started_at
            readings = _readings(tx, meter_end=meter_end, ended_at=ended_at)
            session_price(session=session, tx=tx, ended_at=ended_at, meter_end=meter_end, readings=readings)
        priced += not session.pricing_error
        session.save(
            update_fields=["tariff_snapshot", "currency", "energy_kwh", "cost", "pricing_error", "updated_at"]
        )
    return priced
