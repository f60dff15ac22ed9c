"""OCPP transactions as the station reports them: StartTransaction,
MeterValues (every sample kept, energy normalised to Wh, the meter moved with
each commit, the live session's cost at most every LIVE_SESSION_SECONDS) and
StopTransaction; and closing an abandoned one."""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from channels.db import database_sync_to_async
from django.db import connection
from django.db import transaction as db_transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from billing.models import MeterValue, Session, SessionStatus, Transaction, UnmatchedStop
from billing.sessions import (
    ENERGY_REGISTER,
    FINISHED,
    KWH,
    LiveSession,
    limit_reached,
    limit_stop_claim,
    session_bill,
    session_link,
    session_price_live,
)
from evpower.bulk import json_array, values_update
from evpower.clock import utcnow
from evpower.errors import Conflict
from ocpp16.schemas import MAX_INTEGER
from ocpp_gateway import commands
from ocpp_gateway.conf import gateway_settings
from stations.charging_profiles import tx_profiles_drop
from stations.id_tags import id_tag_info, id_tag_lookup
from stations.reservations import reservation_use

logger = logging.getLogger(__name__)


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
    # One query for both: the identical transaction, and any still open on the connector.
    on_connector = Transaction.objects.filter(station_id=station_pk, connector_id=connector_id).filter(
        Q(stopped_at__isnull=True) | Q(id_tag=id_tag, meter_start=meter_start, started_at=timestamp)
    )
    found = list(on_connector.select_related("station").order_by("transaction_id"))
    info, owner_id = id_tag_lookup(id_tag=id_tag, now=now)
    if info["status"] == "Accepted":
        concurrent = Transaction.objects.filter(id_tag__iexact=id_tag, stopped_at__isnull=True).exclude(
            station_id=station_pk, connector_id=connector_id
        )
        if concurrent.exists():
            info = {**info, "status": "ConcurrentTx"}
    # The retry's answer is the first one's (the same id, the same idTagInfo).
    for tx in found:
        if (tx.id_tag, tx.meter_start, tx.started_at) == (id_tag, meter_start, timestamp):
            return StartResult(tx.transaction_id, info)

    # A station that lost its previous transaction on this connector (reboot,
    # power loss) starts a new one; the old one cannot still be running.
    for stale in found:
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
    session_link(tx=tx, now=now, owner_id=owner_id)
    if reservation_id is not None:
        reservation_use(station_pk=station_pk, reservation_id=reservation_id, transaction_id=tx.pk)
    return StartResult(tx.transaction_id, info)


def _energy_wh(sample: dict) -> Decimal | None:
    """The Wh value of an energy-register sample, or None if it is not one."""
    measurand = sample.get("measurand") or ENERGY_REGISTER
    if measurand != ENERGY_REGISTER or sample.get("format") == "SignedData":
        return None
    return _energy(sample["value"], kilo=sample.get("unit") == "kWh")


# More than this is no meter's: the meter columns are bigints. (A station's
# "1e999999" Wh was written out in full as a million digits, too long for
# its row, and int() of it took 23 s of the event loop.)
_ENERGY_LIMIT = Decimal(2**63)


def _energy(text: str, *, kilo: bool) -> Decimal | None:
    """An energy sample's value in its base unit (Wh, varh), or None if it
    is no number a meter could show."""
    try:
        value = Decimal(text) * KWH if kilo else Decimal(text)
    except ArithmeticError:  # not a number, or beyond Decimal's range
        return None
    return value if value.is_finite() and abs(value) < _ENERGY_LIMIT else None


# The columns of meter_rows' tuples (MeterValue's fields, in this order).
METER_COLUMNS = (
    "transaction_id",
    "foreign_transaction_id",
    "station_id",
    "connector_id",
    "timestamp",
    "measurand",
    "value",
    "unit",
    "phase",
    "context",
    "location",
    "format",
)


def meter_rows(
    *,
    station_pk: int,
    connector_id: int,
    transaction_id: int | None,
    meter_values: list,
    foreign_transaction_id: int | None = None,
) -> tuple[list[tuple], tuple[datetime, Decimal] | None]:
    """MeterValue rows as METER_COLUMNS tuples (energy normalised to Wh) and
    the latest total energy register reading.

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
            elif unit in _BASE_UNITS and measurand.startswith("Energy") and (scaled := _scaled(value)):
                value, unit = scaled, _BASE_UNITS[unit]
            rows.append(
                (
                    transaction_id,
                    foreign_transaction_id,
                    station_pk,
                    connector_id,
                    ts,
                    measurand,
                    value,
                    unit,
                    sample.get("phase", ""),
                    sample.get("context", ""),
                    sample.get("location", ""),
                    sample.get("format", ""),
                )
            )
    return rows, latest


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


# Energy samples in thousands, stored in the unit itself.
_BASE_UNITS = {"kWh": "Wh", "kvarh": "varh"}


def _scaled(value: str) -> str | None:
    """A k-unit sample's text in the unit itself; None if it is no number in
    range (then stored as sent, with its own unit)."""
    scaled = _energy(value, kilo=True)
    return None if scaled is None else _plain(scaled)


def meter_values_record(
    *, batch, station_pk: int, connector_id: int, transaction_id: int | None, meter_values: list
) -> None:
    """Store every sample; the live session is updated once per commit (see LiveMeters)."""
    foreign = transaction_id is not None and not 0 < transaction_id <= MAX_INTEGER  # beyond: none of our ids
    rows, latest = meter_rows(
        station_pk=station_pk,
        connector_id=connector_id,
        transaction_id=None if foreign else transaction_id,
        foreign_transaction_id=transaction_id if foreign else None,
        meter_values=meter_values,
    )
    for row in rows:
        batch.insert_values(MeterValue, METER_COLUMNS, row)
    if transaction_id is not None and latest is not None and not foreign:
        batch.state(LiveMeters).note(
            station_pk=station_pk, transaction_id=transaction_id, latest=latest, unit=batch.unit
        )


class LiveMeters:
    """The latest energy reading per transaction in one commit: the meters and
    the sessions' live energy and cost are written once per commit, not once
    per frame (and a flooding station's session not with every commit)."""

    def __init__(self) -> None:
        # Keyed by station too: a transaction id is only this station's to report on.
        self.latest: dict[tuple[int, int], tuple[datetime, Decimal]] = {}
        # The unit (Batch.unit) that noted each: on the loop, the one to
        # answer once its session is priced (see _live_update). One per key:
        # a station's frames are answered one at a time.
        self.units: dict[tuple[int, int], int] = {}

    def note(
        self, *, station_pk: int, transaction_id: int, latest: tuple[datetime, Decimal], unit: int
    ) -> None:
        key = (station_pk, transaction_id)
        previous = self.latest.get(key)
        if previous is None or latest[0] >= previous[0]:
            self.latest[key] = latest
        self.units[key] = unit

    def flush(self, batch) -> None:
        if self.latest:
            _live_update(batch, self)


class LiveClock:
    """When this writer last refreshed each transaction's live session, and
    those whose latest sample it has not priced yet (their station sends
    faster than LIVE_SESSION_SECONDS, or more came due at once than a commit
    prices), by time.monotonic(). Kept by the writer
    from commit to commit; changed under `lock`, since the event loop gathers
    MeterValues while the writer thread commits (a deferred refresh)."""

    def __init__(self) -> None:
        self.refreshed: dict[int, float] = {}
        self.deferred: dict[int, float] = {}
        self.pruned_at = time.monotonic()
        # Held only around changes and reads of the two maps, never across SQL.
        self.lock = threading.Lock()

    def prune(self, clock: float, every: float) -> None:
        # An entry twice `every` old means what no entry means: priced with
        # its commit (see _live_update).
        if clock - self.pruned_at >= max(every, 60):
            self.pruned_at = clock
            self.refreshed = {tx: at for tx, at in self.refreshed.items() if clock - at < 2 * every}


# Live sessions priced at once at most (by a commit's samples, and again by
# a deferred refresh sharing the commit). Every frame of a commit waits
# for its pricing: a fleet whose sessions all came due together (they started
# together, or their deferred refresh ran at once) made one commit in a
# second several times longer than the rest, and that was the frames' p99.
# The others are priced in the next commits, a little later. It also bounds
# how many sessions the deferred refresh keeps fresh: about this many every
# _REST_SECONDS. At 32 (640 a second), 2,000 stations sampling every 1.2 s
# fell out of the "priced lately" window, and had to be priced at once
# (then a whole loop commit went to the writer thread for it: ack p50 54 ms,
# p99 275). At 128, two pairs: 4-6 times fewer, ack p99 127 and 66 ms
# against 275 and 82; at 200 stations no worse. (A writer-thread commit may
# price this many three times over: its own samples', the deferred
# refresh's, and those loop commits left to it, _DueNow.)
REFRESH_PER_COMMIT = 128
# When the sessions left over by a full commit are priced.
_REST_SECONDS = 0.05
# A sampling session is priced up to this share of LIVE_SESSION_SECONDS
# later than due, with the others that came due meanwhile: pricing is two
# statements, and each of the writer's statements waits for the GIL from the
# event loop. Priced as each came due, there was pricing in nearly every
# commit of a busy fleet; gathered, in a few commits a second.
_GATHER = 0.25


class _Pricing:
    """The live sessions one commit prices (REFRESH_PER_COMMIT at most), and
    when the deferred refresh must run for the others."""

    def __init__(self) -> None:
        self.due: list[int] = []
        self.wait: float | None = None

    def take(self, tx_id: int) -> bool:
        """Price `tx_id` with this commit, unless it is full (then soon after)."""
        if len(self.due) < REFRESH_PER_COMMIT:
            self.due.append(tx_id)
            return True
        self.defer(0.0)
        return False

    def defer(self, until: float) -> None:
        self.wait = until if self.wait is None else min(self.wait, until)

    def gather(self, last: float, clock: float, every: float) -> None:
        """Price a session last priced at `last` once due, gathered (_GATHER)."""
        self.defer(max(0.0, last + every - clock) + every * _GATHER)

    def run(self, batch) -> None:
        if self.wait is not None:
            batch.run_later(max(self.wait, _REST_SECONDS), _live_deferred_refresh)
        if self.due:
            _sessions_live_refresh(batch, self.due)


def _live_update(batch, meters: LiveMeters) -> None:
    """Move each transaction's meter to its latest sample, and refresh live
    sessions: with this commit a session's first sample (or one not priced
    for twice LIVE_SESSION_SECONDS: a station sampling slowly), every sample
    if LIVE_SESSION_SECONDS is 0; the others LIVE_SESSION_SECONDS after
    their last refresh, gathered (see _GATHER). REFRESH_PER_COMMIT at most
    in one commit: the rest soon after. A commit gathered on the event loop
    cannot read its sessions: those due at once are priced right after, on
    the writer thread, and their frames answered once that commit is done
    (priced, unless more were due than it prices: then soon after)."""
    every = gateway_settings.LIVE_SESSION_SECONDS
    state, clock, touched = batch.kept(LiveClock), time.monotonic(), meters.latest

    def priced_lately(tx_id: int) -> bool:
        last = state.refreshed.get(tx_id)
        return last is not None and clock - last < 2 * every

    if connection.vendor != "postgresql":
        live = _meters_advance_portable(touched)
    elif batch.on_loop or all(priced_lately(tx_id) for _, tx_id in touched):
        # None to price with this commit (the usual case), or none that the
        # loop can: the meters move with the commit's last round trip.
        batch.write(_METERS_MOVE, [_meters_json(touched)])
        # Stopped or forged ones too: their pricing finds only those live.
        live = [tx_id for _, tx_id in touched]
    else:
        live = _meters_advance(touched, batch)
    if not live:
        return
    pricing, deferred, now = _Pricing(), [], []
    with state.lock:
        for tx_id in live:
            last = state.refreshed.get(tx_id)
            if priced_lately(tx_id):
                pricing.gather(last, clock, every)
            elif batch.on_loop:
                now.append(tx_id)
                continue
            elif pricing.take(tx_id):
                state.refreshed[tx_id] = clock
                continue
            state.deferred[tx_id] = clock
            deferred.append(tx_id)
        state.prune(clock, every)
    if now:
        # Sent whole to the writer thread instead, one such session among
        # the ten stations of a commit held up the other nine: at 2,000
        # stations, nearly every commit.
        due = set(now)
        units = {unit for (_, tx_id), unit in meters.units.items() if tx_id in due}
        batch.answer_after(partial(_live_price_now, now), units)
    if deferred and batch.on_loop:
        batch.on_commit(partial(_deferred_again, state, deferred))
    pricing.run(batch)


def _live_price_now(tx_ids: list[int], batch) -> None:
    """Price these sessions in this commit: a loop commit's samples due at
    once (see _live_update)."""
    batch.state(_DueNow).tx_ids += tx_ids


class _DueNow:
    """The sessions loop commits left to one writer-thread commit to price,
    priced together as a commit's own are: REFRESH_PER_COMMIT at most, the
    rest soon after (a fleet's sessions all due at once, each loop commit's
    priced on its own, held their frames for seconds)."""

    def __init__(self) -> None:
        self.tx_ids: list[int] = []

    def flush(self, batch) -> None:
        state, clock, pricing = batch.kept(LiveClock), time.monotonic(), _Pricing()
        with state.lock:
            for tx_id in dict.fromkeys(self.tx_ids):
                if not pricing.take(tx_id):
                    state.deferred[tx_id] = clock
        pricing.run(batch)
        # Priced only once committed: if pricing fails, they are still due,
        # and their next samples are priced at once (not deferred).
        batch.on_commit(partial(_deferred_taken, state, {}, pricing.due, clock))


def _deferred_again(state: LiveClock, tx_ids: list[int]) -> None:
    """Once a loop commit is done, its samples deferred anew. A deferred
    refresh on the writer thread may have run while it was in flight: it
    priced them from the meters before this commit, and would take them as
    done. (Deferred at a new time, so that such a refresh leaves them.)"""
    clock = time.monotonic()
    with state.lock:
        for tx_id in tx_ids:
            state.deferred[tx_id] = clock


def _live_deferred_refresh(batch) -> None:
    """Price the deferred sessions due (REFRESH_PER_COMMIT at most); run again
    for the rest. Its runs are timed a gathering share after the first is due,
    so that those due meanwhile are priced with it."""
    every = gateway_settings.LIVE_SESSION_SECONDS
    state, clock = batch.kept(LiveClock), time.monotonic()
    pricing, taken = _Pricing(), {}
    with state.lock:  # a copy: the loop does not wait for the loop below
        deferred = list(state.deferred.items())
    for tx_id, at in deferred:
        last = state.refreshed.get(tx_id)
        if last is not None and last >= at:
            taken[tx_id] = at  # refreshed since (a sample priced at once)
        elif last is not None and clock - last < every:
            pricing.gather(last, clock, every)  # not due yet
        elif pricing.take(tx_id):
            taken[tx_id] = at
    pricing.run(batch)
    # Taken only once committed: if the commit fails, the writer runs this
    # unit again on its own, and it must find them still deferred.
    batch.on_commit(partial(_deferred_taken, state, taken, pricing.due, clock))


def _deferred_taken(state: LiveClock, deferred: dict[int, float], due: list[int], clock: float) -> None:
    with state.lock:
        for tx_id in due:
            state.refreshed[tx_id] = clock
        for tx_id, at in deferred.items():
            # Not one deferred again meanwhile (a newer sample, not priced yet).
            if state.deferred.get(tx_id) == at:
                del state.deferred[tx_id]


# The same rules as _meters_advance_portable: the station's own open
# transaction, never backwards in time. One JSON array of [id, station pk,
# time, Wh] keeps the statement's text the same whatever the number of
# transactions, and costs Python a quarter of four arrays' (psycopg adapts a
# list element by element in Python: 186 against 54 us for 46 transactions,
# on the event loop for every MeterValues commit).
_METERS_MOVE = """
UPDATE billing_transaction AS t SET last_meter_wh = v.wh, last_meter_at = v.ts
FROM (
  SELECT (r->>0)::bigint AS id, (r->>1)::bigint AS station_id,
    (r->>2)::timestamptz AS ts, (r->>3)::bigint AS wh
  FROM jsonb_array_elements(%s::jsonb) AS r
) AS v
WHERE t.transaction_id = v.id AND t.station_id = v.station_id AND t.stopped_at IS NULL
  AND (t.last_meter_at IS NULL OR t.last_meter_at <= v.ts)
"""
# The same, and which of those moved have a live session.
_METERS_ADVANCE = (
    _METERS_MOVE
    + """RETURNING t.transaction_id, EXISTS (
  SELECT 1 FROM billing_session AS s WHERE s.transaction_id = t.transaction_id AND NOT (s.status = ANY(%s))
)
"""
)


def _meters_advance(touched: dict, batch) -> list[int]:
    """Write each transaction's latest meter reading (PostgreSQL, one
    statement); the ids of those moved whose session is live."""
    rows = batch.query(_METERS_ADVANCE, [_meters_json(touched), _FINISHED])
    return [tx_id for tx_id, live in rows if live]


def _meters_json(touched: dict) -> str:
    """Each transaction's id, station pk, time and Wh, as _METERS_MOVE reads them."""
    return json_array([(tx_id, station_pk, ts, int(wh)) for (station_pk, tx_id), (ts, wh) in touched.items()])


def _meters_advance_portable(touched: dict) -> list[int]:
    """_meters_advance on databases other than PostgreSQL."""
    latest = {tx_id: (station_pk, sample) for (station_pk, tx_id), sample in touched.items()}
    rows = Transaction.objects.filter(pk__in=list(latest), stopped_at__isnull=True).values_list(
        "transaction_id", "station_id", "last_meter_at", "session__status"
    )
    moved, live = [], []
    for tx_id, station_id, previous, status in rows:
        station_pk, (ts, wh) = latest[tx_id]
        if station_pk != station_id or (previous is not None and ts < previous):
            # Another station's transaction id (a bug or a forgery): its samples
            # are kept, but they must not move someone else's bill.
            continue
        moved.append((tx_id, int(wh), ts))
        if status is not None and status not in FINISHED:
            live.append(tx_id)
    values_update(Transaction, ["last_meter_wh", "last_meter_at"], moved)
    return live


_FINISHED = [str(status) for status in FINISHED]
_LIVE_STATUSES = [status for status in SessionStatus if status not in FINISHED]
# What the live refresh reads, as plain values: a model instance per row costs
# more than the query.
_LIVE_COLUMNS = (
    "transaction_id",
    "station_id",
    "meter_start",
    "started_at",
    "last_meter_wh",
    "last_meter_at",
    "station__time_zone",
    "station__station_id",
    "session__status",
    "session__id",
    "session__tariff_snapshot",
    "session__limit_kwh",
    "session__limit_amount",
    "session__limit_stop_sent_at",
    "session__energy_kwh",
    "session__cost",
    "session__currency",
    "session__pricing_error",
)


def _sessions_live_refresh(batch, tx_ids: list[int]) -> None:
    """Price the live sessions of these open transactions up to their meter's
    latest reading, and send a limit's stop once."""
    now = utcnow()
    ids = tx_ids
    if connection.vendor == "postgresql":
        # One array, not a parameter per id: the same statement text each commit.
        ids = RawSQL("SELECT unnest(%s::integer[])", [tx_ids])
    rows = Transaction.objects.filter(
        pk__in=ids, stopped_at__isnull=True, session__status__in=_LIVE_STATUSES
    ).values_list(*_LIVE_COLUMNS)
    # Sessions by the fields written, one statement each (usually one in all):
    # a flagged session keeps its last good cost, and the flag is written only
    # where it moved (a session repriced meanwhile must not be flagged again).
    # Not `status`: an API request may have moved the session meanwhile (stop
    # requested), and this write must not put it back.
    changed: dict[tuple[str, ...], list[tuple]] = {}
    for tx_id, station_pk, meter_start, started_at, wh, ts, zone, station_id, status, *fields in rows:
        if ts is None:
            continue
        session = LiveSession(*fields)
        flag = session.pricing_error
        priced = session_price_live(
            session=session,
            time_zone=zone,
            started_at=started_at,
            meter_start=meter_start,
            ended_at=ts,
            meter_end=wh,
        )
        names, values = ("energy_kwh", "updated_at"), (session.pk, session.energy_kwh, now)
        if priced or not (flag or session.pricing_error):
            names, values = (*names, "cost", "currency"), (*values, session.cost, session.currency)
        if session.pricing_error != flag:
            names, values = (*names, "pricing_error"), (*values, session.pricing_error)
        changed.setdefault(names, []).append(values)
        if limit_reached(session) and session.limit_stop_sent_at is None and limit_stop_claim(session, ts):
            stop = partial(
                limit_stop_send,
                station=commands.Address(station_pk, station_id),
                transaction_id=tx_id,
                session_pk=session.pk,
                claimed_at=ts,
                # The claim marked it stopping (an API stop may have already).
                marked=status == SessionStatus.CHARGING,
            )
            batch.after_commit(stop)
    for names, values in changed.items():
        values_update(Session, list(names), values)


async def limit_stop_send(
    *,
    station: commands.StationAddress,
    transaction_id: int,
    session_pk: int,
    claimed_at: datetime,
    marked: bool,
) -> None:
    """RemoteStopTransaction for a session that reached its limit, in whichever
    process holds the station now; if it does not go through, the claim is
    released so that the session's next sample sends it again."""
    try:
        response = await commands.command_send(
            station=station, action="RemoteStopTransaction", payload={"transactionId": transaction_id}
        )
    except commands.CommandFailed as exc:
        failure = exc.reason
    except Exception:
        logger.warning("Limit stop of transaction %s failed", transaction_id, exc_info=True)
        failure = "error"
    else:
        if response.get("status") == "Accepted":
            return
        failure = f"answered {response.get('status')!r}"
    logger.warning(
        "Limit stop of transaction %s failed: %s; sent again with its next sample", transaction_id, failure
    )
    # A rare path, two small updates: through Django's sync thread (billing
    # does not reach the station writer, ocpp_gateway.runtime).
    release = database_sync_to_async(_limit_stop_release)
    await release(session_pk=session_pk, claimed_at=claimed_at, marked=marked)


@db_transaction.atomic
def _limit_stop_release(*, session_pk: int, claimed_at: datetime, marked: bool) -> None:
    # Only this claim: not one made since, nor a session billed meanwhile.
    released = Session.objects.filter(
        pk=session_pk, limit_stop_sent_at=claimed_at, status__in=_LIVE_STATUSES
    ).update(limit_stop_sent_at=None)
    if released and marked:
        Session.objects.filter(pk=session_pk, status=SessionStatus.STOPPING).update(
            status=SessionStatus.CHARGING, updated_at=utcnow()
        )


def transaction_stop(
    *,
    batch,
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
        # FOR NO KEY UPDATE: what its UPDATE takes anyway, and unlike FOR
        # UPDATE it lets the inserts that only reference these rows (meter
        # samples committed from the event loop meanwhile) go on.
        Transaction.objects.select_for_update(no_key=True)
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
    # Samples of this commit are written after the units, so after this bill:
    # MeterValues of earlier frames in the same commit, then transactionData.
    rows = [
        row
        for row in batch.pending_values(MeterValue, METER_COLUMNS)
        if row[0] == tx.pk and row[2] == station_pk  # transaction, station (see METER_COLUMNS)
    ]
    if transaction_data:
        data_rows, _ = meter_rows(
            station_pk=station_pk,
            connector_id=tx.connector_id,
            transaction_id=tx.pk,
            meter_values=transaction_data,
        )
        for row in data_rows:
            batch.insert_values(MeterValue, METER_COLUMNS, row)
        rows += data_rows
    tx.meter_stop = meter_stop
    tx.stopped_at = timestamp
    tx.stop_reason = reason or "Local"
    tx.stop_id_tag = id_tag or ""
    tx.transaction_data = payload.get("transactionData")
    tx.save(update_fields=["meter_stop", "stopped_at", "stop_reason", "stop_id_tag", "transaction_data"])
    unstored = [
        (row[4], row[6], row[10])  # timestamp, value, location (see METER_COLUMNS)
        for row in rows
        if row[5] == ENERGY_REGISTER and row[7] == "Wh" and not row[8]  # measurand, unit, phase
    ]
    session_bill(tx=tx, meter_end=meter_stop, ended_at=timestamp, reason=tx.stop_reason, unstored=unstored)
    # A TxProfile lives only as long as its transaction (OCPP 1.6 §3.13.3).
    tx_profiles_drop(station_pk=station_pk, connector_id=tx.connector_id)
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


def transaction_close_abandoned(*, transaction_id: int, reason: str) -> None:
    """Close an open transaction without a word to the station, billed from
    its last meter sample. Conflict when it is already closed."""
    with db_transaction.atomic():
        # Locked as the gateway's StopTransaction does (FOR NO KEY UPDATE), so
        # a stop arriving at the same moment waits and then finds it closed.
        tx = (
            Transaction.objects.select_for_update(of=("self",), no_key=True)
            .select_related("station")
            .get(pk=transaction_id)
        )
        if not tx.is_open:
            raise Conflict("conflict", "The transaction is already closed.")
        transaction_close(transaction=tx, reason=reason, now=utcnow())
