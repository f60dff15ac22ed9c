"""Transactions, meter values and charging sessions: what the station reports,
turned into sessions billed by tariff. The bill itself is `billing.pricing`."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db import transaction as db_transaction
from django.db.models import F, ProtectedError, Q
from django.utils import timezone

from billing.models import MeterValue, Session, SessionStatus, Tariff, Transaction, UnmatchedStop
from billing.pricing import MeterReading, TariffSnapshot, price_session
from stations.models import InstalledChargingProfile
from stations.services import id_tag_info, id_tag_owner_id

logger = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
KWH = Decimal("1000")
WAITING = (SessionStatus.CREATED, SessionStatus.STARTING)
FINISHED = (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED)
# Stop reasons of sessions that never started.
START_REJECTED = "Rejected"  # the station answered RemoteStartTransaction "Rejected"
START_NO_REPLY = "Timeout"  # no answer in time: the station may still start
START_NOT_CONNECTED = "NotConnected"
START_STATION_ERROR = "StationError"
START_NEVER = "NoStart"  # accepted, but no StartTransaction came


def tariff_applicable(*, station_pk: int, at: datetime) -> Tariff | None:
    """A station-specific tariff beats the network default; the newest wins."""
    valid = Tariff.objects.filter(
        Q(is_active=True),
        Q(valid_from__isnull=True) | Q(valid_from__lte=at),
        Q(valid_to__isnull=True) | Q(valid_to__gt=at),
    )
    return (
        valid.filter(stations=station_pk).order_by("-created_at", "-id").first()
        or valid.filter(stations=None).order_by("-created_at", "-id").first()
    )


def tariff_snapshot(tariff: Tariff) -> dict:
    return TariffSnapshot.from_dict(
        {
            "currency": tariff.currency,
            "price_per_kwh": tariff.price_per_kwh,
            "price_per_minute": tariff.price_per_minute,
            "session_fee": tariff.session_fee,
            "idle_fee_per_minute": tariff.idle_fee_per_minute,
            "idle_grace_minutes": tariff.idle_grace_minutes,
            "periods": tariff.periods or [],
        }
    ).to_dict() | {"tariff_id": tariff.pk, "name": tariff.name}


@db_transaction.atomic
def tariff_create(*, data: dict) -> Tariff:
    """`data`: validated tariff fields; `stations` a list of Station objects."""
    data = dict(data)
    stations = data.pop("stations", [])
    tariff = Tariff.objects.create(**data)
    tariff.stations.set(stations)
    return tariff


@db_transaction.atomic
def tariff_update(*, tariff: Tariff, data: dict) -> Tariff:
    """Change a tariff; sessions already created keep the prices of their snapshot."""
    data = dict(data)
    stations = data.pop("stations", None)
    for field, value in data.items():
        setattr(tariff, field, value)
    tariff.save()
    if stations is not None:
        tariff.stations.set(stations)
    return tariff


def tariff_delete(*, tariff: Tariff) -> bool:
    """Delete a tariff no session used; archive one that was used. True if archived."""
    if not Session.objects.filter(tariff=tariff).exists():
        try:
            with db_transaction.atomic():
                tariff.delete()
            return False
        except ProtectedError:
            pass  # a session picked it up meanwhile
    Tariff.objects.filter(pk=tariff.pk).update(is_active=False)
    tariff.is_active = False
    return True


def snapshot_prices(snapshot: dict) -> TariffSnapshot:
    return TariffSnapshot.from_dict({k: v for k, v in snapshot.items() if k not in ("tariff_id", "name")})


@dataclass(frozen=True)
class StartResult:
    transaction_id: int
    id_tag_info: dict


def transaction_start(
    *,
    station_pk: int,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: datetime,
    reservation_id: int | None,
    now: datetime,
) -> StartResult:
    """Open a transaction and link (or create) its session.

    A station retrying after a lost reply sends the identical request again:
    it gets the same transaction id and nothing new is created.
    """
    existing = Transaction.objects.filter(
        station_id=station_pk,
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=timestamp,
    ).first()
    info = id_tag_info(id_tag=id_tag, now=now)
    if existing is not None:
        return StartResult(existing.transaction_id, info)

    if info["status"] == "Accepted":
        concurrent = Transaction.objects.filter(id_tag__iexact=id_tag, stopped_at__isnull=True).exclude(
            station_id=station_pk, connector_id=connector_id
        )
        if concurrent.exists():
            info = {**info, "status": "ConcurrentTx"}

    # A station that lost its previous transaction on this connector (reboot,
    # power loss) starts a new one; the old one cannot still be running.
    for stale in Transaction.objects.filter(
        station_id=station_pk, connector_id=connector_id, stopped_at__isnull=True
    ):
        transaction_close(transaction=stale, reason="Superseded", now=now)

    tx = Transaction.objects.create(
        station_id=station_pk,
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=timestamp,
        reservation_id=reservation_id,
        last_meter_wh=meter_start,
        last_meter_at=timestamp,
    )
    _session_link(tx=tx, now=now)
    if reservation_id is not None:
        from stations.reservations import reservation_use

        reservation_use(station_pk=station_pk, reservation_id=reservation_id, transaction_id=tx.pk)
    return StartResult(tx.transaction_id, info)


def _session_link(*, tx: Transaction, now: datetime) -> Session:
    """The session this new transaction belongs to: the one waiting for it, else a new one."""
    from billing.sessions import START_TIMEOUT_SECONDS

    candidates = Session.objects.filter(
        station_id=tx.station_id,
        connector_id=tx.connector_id,
        id_tag__iexact=tx.id_tag,
        transaction__isnull=True,
    )
    # The remote-started one first; a session only created is next.
    session = (
        candidates.filter(status__in=WAITING)
        .order_by(F("remote_start_at").desc(nulls_last=True), "-created_at", "-id")
        .first()
    )
    if session is None:
        # RemoteStart's reply was lost or late, but the station did start: that
        # session (and its limits) is the one charging after all.
        session = (
            candidates.filter(
                status=SessionStatus.FAILED,
                stop_reason=START_NO_REPLY,
                remote_start_at__gte=now - timedelta(seconds=START_TIMEOUT_SECONDS),
            )
            .order_by("-remote_start_at", "-id")
            .first()
        )
        if session is not None:
            session.stopped_at, session.stop_reason = None, ""
    if session is None:
        # Started at the station itself (RFID, free vend): billed all the same.
        session = Session(
            station_id=tx.station_id,
            connector_id=tx.connector_id,
            id_tag=tx.id_tag,
            user_id=id_tag_owner_id(id_tag=tx.id_tag),
        )
    if session.tariff_snapshot is None:
        tariff = tariff_applicable(station_pk=tx.station_id, at=tx.started_at)
        if tariff is not None:
            session.tariff = tariff
            session.tariff_snapshot = tariff_snapshot(tariff)
            session.currency = tariff.currency
    session.transaction = tx
    session.status = SessionStatus.CHARGING
    session.started_at = tx.started_at
    session.save()
    return session


def _energy_wh(sample: dict) -> Decimal | None:
    """The Wh value of an energy-register sample, or None if it is not one."""
    measurand = sample.get("measurand") or ENERGY_REGISTER
    if measurand != ENERGY_REGISTER or sample.get("format") == "SignedData":
        return None
    try:
        value = Decimal(sample["value"])
    except ArithmeticError:
        return None
    if not value.is_finite():
        return None
    return value * KWH if sample.get("unit") == "kWh" else value


def meter_rows(
    *, station_pk: int, connector_id: int, transaction_id: int | None, meter_values: list
) -> tuple[list[MeterValue], tuple[datetime, Decimal] | None]:
    """MeterValue rows (energy normalised to Wh) and the latest total energy register reading.

    `meter_values` is OCPP's meterValue list with its timestamps already parsed."""
    rows, latest = [], None
    for entry in meter_values:
        ts = entry["timestamp"]
        for sample in entry["sampledValue"]:
            measurand = sample.get("measurand") or ENERGY_REGISTER
            value, unit = sample["value"], sample.get("unit", "")
            wh = _energy_wh(sample)
            if wh is not None and measurand.startswith("Energy"):
                value, unit = _plain(wh), "Wh"
                total = not sample.get("phase") and sample.get("location", "Outlet") == "Outlet"
                if total and (latest is None or ts >= latest[0]):
                    latest = (ts, wh)
            elif unit == "kWh" and measurand.startswith("Energy"):
                value, unit = _scaled(value), "Wh"
            elif unit in ("kvarh",) and measurand.startswith("Energy"):
                value, unit = _scaled(value), "varh"
            rows.append(
                MeterValue(
                    transaction_id=transaction_id,
                    station_id=station_pk,
                    connector_id=connector_id,
                    timestamp=ts,
                    measurand=measurand,
                    value=value,
                    unit=unit,
                    phase=sample.get("phase", ""),
                    context=sample.get("context", ""),
                    location=sample.get("location", ""),
                    format=sample.get("format", ""),
                )
            )
    return rows, latest


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _scaled(value: str) -> str:
    try:
        return _plain(Decimal(value) * KWH)
    except ArithmeticError:
        return value


def meter_values_record(
    *, batch, station_pk: int, connector_id: int, transaction_id: int | None, meter_values: list
) -> None:
    """Store every sample; the live session is updated once per commit (see _live_flush)."""
    rows, latest = meter_rows(
        station_pk=station_pk,
        connector_id=connector_id,
        transaction_id=transaction_id,
        meter_values=meter_values,
    )
    for row in rows:
        batch.add(row)
    if transaction_id is not None and latest is not None:
        # Keyed by station too: a transaction id is only this station's to report on.
        touched = batch.shared.setdefault(__name__, {})
        key = (station_pk, transaction_id)
        previous = touched.get(key)
        if previous is None or latest[0] >= previous[0]:
            touched[key] = latest
        batch.on_flush(_live_flush)


# What the live update reads: loading whole rows costs more than the query.
_LIVE_FIELDS = (
    "transaction_id",
    "station_id",
    "meter_start",
    "started_at",
    "last_meter_wh",
    "last_meter_at",
    "station__id",
    "station__time_zone",
    "session__id",
    "session__transaction_id",
    "session__status",
    "session__tariff_snapshot",
    "session__limit_kwh",
    "session__limit_amount",
    "session__limit_stop_sent_at",
    "session__energy_kwh",
    "session__cost",
    "session__currency",
    "session__updated_at",
)


def _live_flush(batch) -> None:
    touched: dict = batch.shared.pop(__name__, {})
    if not touched:
        return
    latest = {tx_id: (station_pk, sample) for (station_pk, tx_id), sample in touched.items()}
    # One query for transactions, stations and sessions: this runs per commit.
    txs = list(
        Transaction.objects.filter(pk__in=latest, stopped_at__isnull=True)
        .select_related("station", "session")
        .only(*_LIVE_FIELDS)
    )
    sessions = {}
    for tx in txs:
        session = getattr(tx, "session", None)
        if session is not None and session.status not in FINISHED:
            session.transaction = tx
            sessions[tx.pk] = session
    now = timezone.now()
    changed_tx, changed_sessions = [], []
    for tx in txs:
        station_pk, (ts, wh) = latest[tx.pk]
        if station_pk != tx.station_id:
            # Another station's transaction id (a bug or a forgery): its samples
            # are kept, but they must not move someone else's bill.
            continue
        if tx.last_meter_at and ts < tx.last_meter_at:
            continue
        tx.last_meter_wh, tx.last_meter_at = int(wh), ts
        changed_tx.append(tx)
        session = sessions.get(tx.pk)
        if session is None:
            continue
        _session_price(session=session, tx=tx, ended_at=ts, meter_end=wh, readings=None)
        session.updated_at = now  # bulk_update does not apply auto_now
        changed_sessions.append(session)
        if _limit_reached(session) and session.limit_stop_sent_at is None and _limit_stop_claim(session, ts):
            batch.after_commit.append(("limit_stop", tx.station.group_name, tx.pk))
    _update_rows(changed_tx, ["last_meter_wh", "last_meter_at"])
    # Not `status`: an API request may have moved the session meanwhile (stop
    # requested), and this write must not put it back.
    _update_rows(changed_sessions, ["energy_kwh", "cost", "currency", "updated_at"])


def _update_rows(instances: list, field_names: list[str]) -> None:
    """UPDATE each instance's fields: one statement on PostgreSQL.

    The hot path's batch update: Django's bulk_update builds a CASE expression
    per row and per field, which costs more CPU than the whole frame."""
    if not instances:
        return
    meta = instances[0]._meta
    fields = [meta.get_field(name) for name in field_names]
    qn = connection.ops.quote_name
    rows = [
        [obj.pk] + [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
        for obj in instances
    ]
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement for all rows: UPDATE ... FROM (VALUES ...).
            casts = [meta.pk.db_type(connection)] + [f.db_type(connection) for f in fields]
            row_sql = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
            columns = ", ".join(["pk"] + [f"c{i}" for i in range(len(fields))])
            assignments = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(fields))
            sql = (
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_sql] * len(rows))}) "
                f"AS v({columns}) WHERE {table}.{pk} = v.pk"
            )
            cursor.execute(sql, [value for row in rows for value in row])
        else:
            assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [r[1:] + r[:1] for r in rows]
            )


def _limit_stop_claim(session: Session, at: datetime) -> bool:
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


def _limit_reached(session: Session) -> bool:
    if session.limit_kwh is not None and session.energy_kwh >= session.limit_kwh:
        return True
    return bool(
        session.limit_amount is not None and session.tariff_snapshot and session.cost >= session.limit_amount
    )


def _session_price(
    *, session: Session, tx: Transaction, ended_at: datetime, meter_end, readings: list | None
) -> None:
    """Energy and cost of the session up to `ended_at` (live or final)."""
    if readings is None:
        readings = [
            MeterReading(tx.started_at, Decimal(tx.meter_start)),
            MeterReading(ended_at, Decimal(meter_end)),
        ]
    energy = max(Decimal(meter_end) - Decimal(tx.meter_start), Decimal(0)) / KWH
    session.energy_kwh = energy.quantize(Decimal("0.001"))
    if not session.tariff_snapshot:
        session.cost = Decimal("0.00")
        return
    bill = price_session(
        tariff=snapshot_prices(session.tariff_snapshot),
        time_zone=tx.station.time_zone,
        readings=readings,
        started_at=tx.started_at,
        ended_at=ended_at,
    )
    session.cost = bill.total
    session.currency = bill.currency


def transaction_stop(
    *,
    station_pk: int,
    transaction_id: int,
    id_tag: str | None,
    meter_stop: int,
    timestamp: datetime,
    reason: str,
    transaction_data: list | None,
    payload: dict,
    now: datetime,
) -> dict | None:
    """Close and bill the transaction. Unknown or already closed ids are
    recorded and answered normally, never an error the station would retry.

    `transaction_data` has its timestamps parsed; `payload` is the request as sent."""
    info = id_tag_info(id_tag=id_tag, now=now) if id_tag else None
    tx = (
        Transaction.objects.select_for_update()
        .select_related("station")
        .filter(pk=transaction_id, station_id=station_pk)
        .first()
    )
    if tx is None or tx.stopped_at is not None:
        UnmatchedStop.objects.create(
            station_id=station_pk,
            transaction_id=transaction_id,
            id_tag=id_tag or "",
            meter_stop=meter_stop,
            timestamp=timestamp,
            reason=reason,
            payload=payload,
            received_at=now,
        )
        return info
    if transaction_data:
        rows, _ = meter_rows(
            station_pk=station_pk,
            connector_id=tx.connector_id,
            transaction_id=tx.pk,
            meter_values=transaction_data,
        )
        MeterValue.objects.bulk_create(rows)
    tx.meter_stop = meter_stop
    tx.stopped_at = timestamp
    tx.stop_reason = reason or "Local"
    tx.stop_id_tag = id_tag or ""
    tx.transaction_data = payload.get("transactionData")
    tx.save(update_fields=["meter_stop", "stopped_at", "stop_reason", "stop_id_tag", "transaction_data"])
    session_bill(tx=tx, meter_end=meter_stop, ended_at=timestamp, reason=tx.stop_reason)
    # A TxProfile lives only as long as its transaction (OCPP 1.6 §3.13.3).
    InstalledChargingProfile.objects.filter(
        station_id=station_pk, connector_id=tx.connector_id, purpose="TxProfile"
    ).delete()
    return info


def transaction_close(*, transaction: Transaction, reason: str, now: datetime) -> Transaction:
    """Close a transaction the station abandoned, billed from its last meter sample."""
    tx = transaction
    tx.meter_stop = tx.last_meter_wh if tx.last_meter_wh is not None else tx.meter_start
    tx.stopped_at = tx.last_meter_at if tx.last_meter_at and tx.last_meter_at > tx.started_at else now
    tx.stop_reason = reason
    tx.save(update_fields=["meter_stop", "stopped_at", "stop_reason"])
    session_bill(tx=tx, meter_end=tx.meter_stop, ended_at=tx.stopped_at, reason=reason)
    return tx


def session_bill(*, tx: Transaction, meter_end: int, ended_at: datetime, reason: str) -> Session | None:
    """Final bill: every stored energy register sample, ending at meterStop."""
    session = Session.objects.filter(transaction=tx).select_related("transaction").first()
    if session is None:
        return None
    readings = [MeterReading(tx.started_at, Decimal(tx.meter_start))]
    samples = MeterValue.objects.filter(
        transaction=tx, station_id=tx.station_id, measurand=ENERGY_REGISTER, phase="", unit="Wh"
    )
    for row in samples.only("timestamp", "value", "location"):
        if row.location in ("", "Outlet") and tx.started_at <= row.timestamp <= ended_at:
            try:
                readings.append(MeterReading(row.timestamp, Decimal(row.value)))
            except ArithmeticError:
                continue
    readings.append(MeterReading(ended_at, Decimal(meter_end)))
    _session_price(session=session, tx=tx, ended_at=ended_at, meter_end=meter_end, readings=readings)
    session.status = SessionStatus.COMPLETED
    session.stopped_at = ended_at
    session.stop_reason = reason
    if not session.tariff_snapshot:
        session.cost = Decimal("0.00")
    session.save()
    return session
