"""Group commit: the station hot path's database writes, many frames per transaction.

Handlers hand a sync unit of work to `db_run`; the writer takes every unit
queued meanwhile and runs them in one database transaction, then resolves
each caller, so a frame is acknowledged only after its data is committed,
without one ORM round trip (or commit) per frame on the event loop or on
Django's single sync thread. On PostgreSQL the units that only gather
(MeterValues) are committed from the event loop itself, the others on the
writer thread (see GroupCommitter).
"""

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, Protocol, TypeVar

import psycopg
import psycopg.sql
from django.db import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    models,
    transaction,
)
from psycopg.pq import TransactionStatus

from evpower.bulk import json_array
from ocpp_gateway import metrics
from ocpp_gateway.conf import gateway_settings

logger = logging.getLogger(__name__)


class CommitState(Protocol):
    """State that units gather during one commit (for example the latest meter
    reading per transaction) and write once, before the commit's rows."""

    def flush(self, batch: "Batch") -> None: ...


S = TypeVar("S", bound=CommitState)
T = TypeVar("T")
AfterCommit = Callable[[], Awaitable[None]]


class NeedsWriterThread(Exception):
    """A commit gathered on the event loop needs SQL before its script (a
    state reads rows back, a model without an INSERT plan): the writer
    thread runs its units again."""


def gathering(unit: "Unit") -> "Unit":
    """Mark `unit` as one that only gathers into its batch (rows, states)
    and sends no SQL itself: a commit of such units (and of log rows) may be
    sent from the event loop (see LoopConnection)."""
    unit.gathering = True
    return unit


class LoopConnection:
    """An asyncio psycopg connection (PostgreSQL) on which the event loop
    sends a commit of gathering units itself, as one query: no writer thread.

    Each of the writer thread's waits, for its turn and for PostgreSQL, ends
    with a wait for the GIL, which the busy event loop drops and retakes at
    every socket call without letting a waiting thread in: under load that
    wait, not the SQL, was most of a commit's time (3-10 ms). The loop
    awaits PostgreSQL like any socket. A commit whose script fails here, for
    whatever reason, goes to the writer thread, whose rules (each unit on its
    own after a failure) answer each unit."""

    # After a connection failure, the writer thread alone for this long.
    REST_SECONDS = 5.0

    def __init__(self) -> None:
        self._conn = None
        self._resting_until = 0.0

    @property
    def resting(self) -> bool:
        """Failed lately: commits go to the writer thread meanwhile."""
        return time.monotonic() < self._resting_until

    async def run(self, sql: str, params: list) -> bool:
        """Run `sql` (statements in one implicit transaction); False if it was
        not committed."""
        if self.resting:
            return False
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await self._connect()
            await self._conn.execute(sql, params)
            return True
        except Exception as exc:
            if self._conn is None or self._conn.closed or self._conn.broken:
                logger.warning("Loop connection failed, commits go to the writer thread: %s", exc)
                await self.close()
                self._resting_until = time.monotonic() + self.REST_SECONDS
            else:
                # A bad row, a deadlock, a timeout: the implicit transaction is
                # rolled back and the connection usable; the writer thread finds
                # the unit at fault.
                logger.debug("Commit on the loop failed", exc_info=True)
            return False

    async def _connect(self):
        params = connections["default"].get_connection_params()
        # Client-side binding: several statements in one simple query.
        params["cursor_factory"] = psycopg.AsyncClientCursor
        params.setdefault("connect_timeout", 5)
        conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        # As Django sets its own connections up (the statements cast
        # timestamps given with their offset, but now() and the like must agree).
        await conn.execute("SELECT set_config('TimeZone', %s, false)", [connections["default"].timezone_name])
        if role := connections["default"].settings_dict["OPTIONS"].get("assume_role"):
            # Django's own connections write as this role: the loop's must too
            # (the tables' owner and grants are the role's, not the login's).
            await conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role)))
        return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                logger.debug("Closing the loop connection failed", exc_info=True)


class Batch:
    """What the units of one commit share. The writer's interface to services:
    rows to insert, state gathered per commit or kept by the writer, work to
    start once committed or to run in a later commit."""

    def __init__(self, rows: list | None = None, kept: dict | None = None, *, on_loop: bool = False) -> None:
        self._values: dict[tuple[type, tuple[str, ...]], list[tuple]] = {}
        for model, columns, values in rows or ():
            self.insert_values(model, columns, values)
        self._states: dict[type, CommitState] = {}
        self._kept = {} if kept is None else kept
        self.after: list[AfterCommit] = []
        self.later: list[tuple[float, Callable[[Batch], Any]]] = []
        # This flush opened the transaction itself (see _open).
        self._opened = False
        # Statements sent with the flush's last round trip (see write).
        self._writes: list[tuple[str, list]] = []
        # Gathered on the event loop: sent from there as one script, no SQL before (see script).
        self._on_loop = on_loop
        # What runs once a commit from the loop is done (see on_commit).
        self._on_commit: list[Callable[[], None]] = []
        # The index of the unit running now, and what a loop commit's units
        # wait for once it is done (see answer_after).
        self.unit = 0
        self.held: list[Unit] = []
        self.held_units: set[int] = set()

    @property
    def on_loop(self) -> bool:
        """Gathered on the event loop, for a commit sent from there."""
        return self._on_loop

    def insert_values(self, model: type, columns: tuple[str, ...], values: tuple) -> None:
        """Insert one `model` row given as plain `values` of `columns` (field
        attnames; every field without a database default must be named): on
        the hot path several times cheaper than building a model instance."""
        if len(values) != len(columns):
            # The INSERT would read a missing value as NULL, and drop an extra one.
            raise ValueError(f"{len(values)} values for {len(columns)} columns of {model.__name__}")
        rows = self._values.get((model, columns))
        if rows is None:
            rows = self._values[(model, columns)] = []
        rows.append(values)

    def pending_values(self, model: type, columns: tuple[str, ...]) -> list[tuple]:
        """The `model` rows of `columns` inserted so far in this commit, still
        unwritten (they are written when the units are done): for a unit
        that must read them first (the final bill, the same commit's samples)."""
        return self._values.get((model, columns), [])

    def state(self, kind: type[S]) -> S:
        """This commit's `kind()` instance, created on first use; its `flush`
        runs once when the units are done."""
        state = self._states.get(kind)
        if state is None:
            state = self._states[kind] = kind()
        return state

    def kept(self, kind: type[T]) -> T:
        """The writer's own `kind()` instance, created on first use and kept
        from commit to commit. A writer-thread commit runs while the loop
        gathers the next ones: whatever `kind` changes must be safe across
        the two threads (a lock held only around its own changes)."""
        value = self._kept.get(kind)
        if value is None:
            value = self._kept.setdefault(kind, kind())  # one instance, whichever thread asks first
        return value

    def on_commit(self, func: Callable[[], None]) -> None:
        """Run `func()` (quick, no I/O) once this commit is done, on the
        thread that committed it: Django's on_commit for the writer thread,
        the writer's own for a commit sent from the loop."""
        if self._on_loop:
            self._on_commit.append(func)
        else:
            transaction.on_commit(func)

    def committed(self) -> None:
        """A commit sent from the loop is done: its on_commit functions."""
        funcs, self._on_commit = self._on_commit, []
        for func in funcs:
            func()

    def after_commit(self, work: AfterCommit) -> None:
        """Start `work()` on the event loop once this commit succeeded."""
        self.after.append(work)

    def answer_after(self, unit: Callable[["Batch"], Any], units: set[int]) -> None:
        """A commit gathered on the loop: once it is done, run `unit(batch)`
        in a writer-thread commit, and answer the units of these indices
        (`unit` when they ran) only after that. For what needs SQL before
        its writes (a session's first price) without sending the whole
        commit to the thread, where the other units would wait for it too.
        The held units are answered as the loop's commit went, whatever
        becomes of `unit` (their own writes are committed)."""
        if not self._on_loop:
            raise RuntimeError("answer_after is for commits gathered on the event loop")
        self.held.append(unit)
        self.held_units |= units

    def run_later(self, delay: float, unit: Callable[["Batch"], Any]) -> None:
        """Queue `unit(batch)` for a commit at least `delay` seconds after this
        one succeeded, unless that unit is queued for that time or sooner
        already (one pending run per unit; its failure is logged, nobody
        waits for it)."""
        self.later.append((delay, unit))

    def query(self, sql: str, params: list) -> list[tuple]:
        """Run one statement that returns rows, for a state's flush; the
        commit's first statement carries its BEGIN (see _open)."""
        if self._on_loop:
            raise NeedsWriterThread
        with connection.cursor() as cursor:
            if self._open():
                cursor.execute(f"BEGIN; {sql}", params)
                cursor.nextset()
            else:
                cursor.execute(sql, params)
            return cursor.fetchall()

    def write(self, sql: str, params: list) -> None:
        """Run a statement whose rows nobody reads, for a state's flush: on
        PostgreSQL it is sent with the commit's rows, in its last round trip
        (so after the other states' statements)."""
        if connection.vendor == "postgresql":
            self._writes.append((sql, params))
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)

    def flush(self) -> None:
        """Write what the units gathered: the last thing of its transaction."""
        try:
            self._flush_states()
            self._insert_all()
        except BaseException:
            self._close_failed()
            raise

    def script(self) -> tuple[str, list]:
        """On the event loop: the states' flush, and the commit as one script
        of statements (one implicit transaction) and its parameters."""
        self._flush_states()
        script, params = self._statements()
        return "; ".join(script), params

    def _flush_states(self) -> None:
        states, self._states = self._states, {}
        for state in states.values():
            state.flush(self)

    def _statements(self) -> tuple[list[str], list]:
        """The queued writes and the rows' INSERTs, as statements and their
        parameters (rows that have no INSERT plan are written at once)."""
        script, params = [sql for sql, _ in self._writes], [p for _, ps in self._writes for p in ps]
        self._writes.clear()
        for (model, columns), values in self._values.items():
            sql = _insert_plan(model, columns)
            if sql is not None:
                script.append(sql)
                params.extend(_insert_params(values))
            elif self._on_loop:
                raise NeedsWriterThread
            else:
                _bulk_create(model, columns, values)
        self._values.clear()
        return script, params

    def _insert_all(self) -> None:
        script, params = self._statements()
        if script and self._open():
            script.insert(0, "BEGIN")
        if self._opened:
            script.append("COMMIT")
        if script:
            # One simple query (Django's psycopg cursors bind client-side): one round trip.
            with connection.cursor() as cursor:
                cursor.execute("; ".join(script), params)
        if self._opened:
            self._opened = False
            connection.connection.autocommit = False

    def _open(self) -> bool:
        """Whether to send BEGIN with the next statement, and COMMIT with the
        flush's last one, instead of each on its own round trip (psycopg's
        way): each of the writer's round trips ends with a wait for the GIL,
        which the busy event loop drops and retakes at every socket call
        without letting a waiting thread in, and a commit whose units sent
        no SQL (MeterValues, heartbeats, boots) was BEGIN, its flush's
        statements and COMMIT. Only for a writer's own transaction (the
        outermost atomic block) that has not started yet; the psycopg
        connection is in autocommit until the flush's COMMIT, so that it
        sends no BEGIN of its own, and Django's commit then finds nothing
        left to do."""
        if self._opened or connection.vendor != "postgresql" or len(connection.atomic_blocks) != 1:
            return False
        raw = connection.connection
        if raw.autocommit or raw.info.transaction_status != TransactionStatus.IDLE:
            return False  # a unit's SQL began it already
        raw.autocommit = True
        self._opened = True
        return True

    def _close_failed(self) -> None:
        if not self._opened:
            return
        self._opened = False
        raw = connection.connection
        try:
            raw.rollback()
            raw.autocommit = False
        except Exception:
            # A broken connection: Django's rollback and the writer's check close it.
            logger.debug("Rollback of a failed flush failed", exc_info=True)


# Field types whose values go into JSON as they are (numbers, text, booleans)
# or as their ISO text (datetimes, dates) or decimal text, and come out of it
# with a cast to the column's type.
_JSON_READY = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.DateTimeField,
    models.DateField,
    models.DecimalField,
    models.BooleanField,
    models.ForeignKey,
)
# (model, columns) -> the INSERT statement, or None: that model's rows go
# through bulk_create (a field type not known here, a JSONField's own encoder;
# and every model on databases other than PostgreSQL).
_INSERT_PLANS: dict[tuple[type, tuple[str, ...]], str | None] = {}


def _column(index: int, field) -> str | None:
    """The SQL that reads `field`'s value from element `index` of row `r`."""
    if type(field) is models.JSONField and field.encoder is None:
        # JSON null is SQL NULL, as Django stores None.
        return f"NULLIF(r->{index}, 'null'::jsonb)"
    # A key to a text column is text too.
    text = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(text, (models.CharField, models.TextField)):
        # Text as it is: the column's own length check applies on INSERT
        # (an explicit cast to varchar(n) would cut it silently).
        return f"r->>{index}"
    if isinstance(field, _JSON_READY):
        return f"(r->>{index})::{field.db_type(connection)}"
    return None


def _insert_plan(model, columns: tuple[str, ...]) -> str | None:
    if connection.vendor != "postgresql":
        return None
    key = (model, columns)
    if key not in _INSERT_PLANS:
        meta = model._meta
        fields = [meta.get_field(name) for name in columns]
        reads = [_column(i, f) for i, f in enumerate(fields)]
        names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        _INSERT_PLANS[key] = (
            None
            if None in reads
            else f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({names}) "
            f"SELECT {', '.join(reads)} FROM jsonb_array_elements(%s::jsonb) AS r"
        )
    return _INSERT_PLANS[key]


def _bulk_create(model, columns: tuple[str, ...], values: list[tuple]) -> None:
    model.objects.bulk_create([model(**dict(zip(columns, v, strict=True))) for v in values], batch_size=500)


def _insert_params(values: list[tuple]) -> list:
    """The rows as one JSON array (`json_array`) that PostgreSQL takes apart
    (_insert_plan): one statement per table, in the flush's one round trip.
    COPY costs Python a little less but two round trips of its own. Rows get
    no pk back (none is needed). PostgreSQL reads the array as jsonb: parsed
    once, where `json` is scanned again for every column read (86 log rows:
    1.0 ms of the server's CPU against 1.9 ms; in the benchmark its CPU per
    stored MeterValue fell by a fifth)."""
    return [json_array(values)]


class Values(NamedTuple):
    """A row for `GroupCommitter.add_row` as `Batch.insert_values` takes it."""

    model: type
    columns: tuple[str, ...]
    values: tuple


Unit = Callable[[Batch], Any]
# A commit's outcome per unit, its after-commit work and its units for later commits.
Committed = tuple[list[tuple[bool, Any]], list[AfterCommit], list[tuple[float, Unit]]]
# The metrics' children, looked up once (not per commit).
_COMMIT_SECONDS = metrics.writer_commit_seconds
_BATCH_UNITS = metrics.writer_batch_size.labels("units")
_BATCH_ROWS = metrics.writer_batch_size.labels("rows")
_LOOP_FALLBACKS_GATHER = metrics.writer_loop_fallbacks.labels("gather")
_LOOP_FALLBACKS_SEND = metrics.writer_loop_fallbacks.labels("send")


def _observe(started: float, units: list, rows: list) -> None:
    """A commit's metrics: its time since `started` and its size."""
    _COMMIT_SECONDS.observe(time.perf_counter() - started)
    _BATCH_UNITS.observe(len(units))
    _BATCH_ROWS.observe(len(rows))


# Commits of gathering units in flight at once, each on a loop connection of
# its own: the next is gathered and sent while PostgreSQL runs the last. At
# a fixed 2,000 MeterValues/s (200 stations, Uvicorn), three pairs: ack p50
# 11-17 ms against 18-52 with one at a time, p99 60-82 against 70-272.
LOOP_COMMITS = 2

# How often the writer thread checks its database connection (see _refresh_connection).
REFRESH_SECONDS = 10


class GroupCommitter:
    def __init__(self) -> None:
        # Units queued for the loop's commits (gathering ones) and the thread's.
        self._pending: list[tuple[Unit, asyncio.Future | None]] = []
        self._pending_loop: list[tuple[Unit, asyncio.Future | None]] = []
        self._rows: list = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-db")
        # Reads that must not queue behind commits (see `read`): their own
        # thread, so their own database connection.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-read")
        self._after_tasks: set[asyncio.Task] = set()
        self._last_refresh = threading.local()
        # What units keep from commit to commit (Batch.kept): the loop's and the thread's.
        self._kept: dict[type, Any] = {}
        # Units run_later asked for, by unit: one pending run of each at a time.
        self._timers: dict[Unit, asyncio.TimerHandle] = {}
        # Commits of gathering units, sent from the loop (PostgreSQL): the
        # connections, those free now, the sends in flight, and the commits
        # whose send failed (for the writer thread).
        self._loop_sql = (
            [LoopConnection() for _ in range(LOOP_COMMITS)] if connection.vendor == "postgresql" else []
        )
        self._free_sql = list(self._loop_sql)
        self._sending: set[asyncio.Task] = set()
        self._to_thread: list[tuple[list, list]] = []
        # The thread's work that loop commits asked for (Batch.answer_after), not done yet.
        self._held: set[asyncio.Future] = set()
        # The writer thread's last commit (they run one after another).
        self._threaded: asyncio.Task | None = None

    async def run(self, unit: Unit) -> Any:
        """Run `unit(batch)` in the next commit; return its result once committed."""
        future = asyncio.get_running_loop().create_future()
        self._enqueue(unit, future)
        return await future

    def submit(self, unit: Unit) -> None:
        """Queue `unit` for the next commit without waiting for it."""
        self._enqueue(unit, None)

    def add_row(self, row) -> None:
        """Insert `row` (`Values`) with the next commit,
        without waiting (the message log: a frame's row needs no unit of its own)."""
        self._rows.append(row)
        self._wake()

    async def call(self, func: Callable[[], Any]) -> Any:
        """Run a plain sync function (a write outside group commit) on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, func)

    async def read(self, func: Callable[[], Any]) -> Any:
        """Run a plain sync read on the reader thread, beside the writer: in a
        reconnect storm the connect-time station lookups queued behind the
        commits of the stations already in (boots, status, message log), and
        every handshake waited for them."""
        return await asyncio.get_running_loop().run_in_executor(self._reader, self._guarded, func)

    def _enqueue(self, unit: Unit, future: asyncio.Future | None) -> None:
        on_loop = bool(self._loop_sql) and getattr(unit, "gathering", False)
        (self._pending_loop if on_loop else self._pending).append((unit, future))
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()
        if self._task is None or self._task.done():
            # A fresh context: the writer serves every station, its log lines
            # must not carry the station id bound by whichever woke it first.
            self._task = asyncio.get_running_loop().create_task(self._loop(), context=contextvars.Context())

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while await self._step():
                pass

    async def _step(self) -> bool:
        """Start the next commits that can start: one on the writer thread if
        it is free, then one on the loop; False if none could (woken again
        when one can)."""
        started = False
        if not self._loop_ready():
            # No loop commits, or their connections failed lately: the thread's.
            self._pending += self._pending_loop
            self._pending_loop = []
        if self._threaded is None or self._threaded.done():
            taken = self._take_for_thread()
            if taken is not None:
                self._threaded = asyncio.get_running_loop().create_task(
                    self._commit_on_thread(*taken, set(self._sending))
                )
                started = True
        # A free connection that is not resting, or wait: a send's end wakes
        # the writer (waiting here would hold up the thread's next commit).
        sql_conn = next((c for c in reversed(self._free_sql) if not c.resting), None)
        if sql_conn is not None and (self._pending_loop or self._rows):
            limit = gateway_settings.MAX_BATCH
            batch, self._pending_loop = self._pending_loop[:limit], self._pending_loop[limit:]
            rows, self._rows = self._rows, []
            if not self._send_on_loop(sql_conn, batch, rows):
                self._to_thread.append((batch, rows))
            started = True
        return started

    def _loop_ready(self) -> bool:
        return any(not sql_conn.resting for sql_conn in self._loop_sql)

    def _take_for_thread(self) -> tuple[list, list] | None:
        """The writer thread's next commit (MAX_BATCH units at most): the
        loop's commits that it could not gather or send (a state reading
        rows back, a bad row), then the units only the thread runs, in
        one commit. While the thread is busy the loop goes on taking its own:
        one thread commit for each that fell back would queue their frames
        behind each other. (Without loop commits, the log rows too.)"""
        batch, rows, limit = [], [], gateway_settings.MAX_BATCH
        while self._to_thread and (not batch or len(batch) + len(self._to_thread[0][0]) <= limit):
            part, part_rows = self._to_thread.pop(0)
            batch += part
            rows += part_rows
        room = max(0, limit - len(batch))
        batch, self._pending = batch + self._pending[:room], self._pending[room:]
        if not self._loop_ready():
            rows, self._rows = rows + self._rows, []
        return (batch, rows) if batch or rows else None

    async def _commit_on_thread(self, batch: list, rows: list, sends: set) -> None:
        """Commit on the writer thread once the loop's commits started before
        it are done, so that it reads what they wrote. The loop goes on
        gathering and sending meanwhile: a deferred pricing or a
        StartTransaction no longer holds up the MeterValues behind it."""
        try:
            if sends:
                await asyncio.wait(sends)
            loop, units = asyncio.get_running_loop(), [unit for unit, _ in batch]
            try:
                committed = await loop.run_in_executor(self._executor, self._timed_commit, units, rows)
            except Exception as exc:
                # _commit answers each unit by its rules; this is the writer's own failure.
                logger.exception("Writer thread commit failed")
                committed = [(False, exc)] * len(units), [], []
            self._deliver(batch, committed)
        finally:
            self._wake()  # the units left waiting for the thread

    def _deliver(self, batch: list, committed: "Committed") -> None:
        """Answer a commit's units, and start what it asked for."""
        outcomes, after, later = committed
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future is None or future.done():
                if not ok and future is None:
                    logger.error("Background write failed", exc_info=value)
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        for work in after:
            self._start(work)
        loop = asyncio.get_running_loop()
        for delay, unit in later:
            when = loop.time() + delay
            timer = self._timers.get(unit)
            if timer is None or timer.when() > when:
                if timer is not None:
                    timer.cancel()
                self._timers[unit] = loop.call_at(when, self._submit_later, unit)

    def _send_on_loop(self, sql_conn: "LoopConnection", batch: list, rows: list) -> bool:
        """Gather this commit on the event loop and start sending it on a free
        loop connection (see LoopConnection); False if the writer thread must
        run it. The next commit is gathered while PostgreSQL runs this one. Two
        in flight never write the same station's rows: a station's frames are
        answered one at a time, each once its commit is done."""
        started = time.perf_counter()
        try:
            gathered, results = Batch(rows, self._kept, on_loop=True), []
            for index, (unit, _) in enumerate(batch):
                gathered.unit = index
                results.append(unit(gathered))
            sql, params = gathered.script()
        except Exception:
            # NeedsWriterThread, the ORM refusing the loop, or a unit's own error:
            # the thread runs them again, and answers each unit by its rules.
            logger.debug("Commit left to the writer thread", exc_info=True)
            _LOOP_FALLBACKS_GATHER.inc()
            return False
        committed = [(True, r) for r in results], gathered.after, gathered.later
        self._free_sql.remove(sql_conn)
        task = asyncio.get_running_loop().create_task(
            self._send(sql_conn, sql, params, batch, rows, gathered, committed, started)
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return True

    async def _send(self, sql_conn, sql, params, batch, rows, gathered, committed, started) -> None:
        try:
            sent = not sql or await sql_conn.run(sql, params)
        finally:
            self._free_sql.append(sql_conn)
            self._wake()  # a connection free for the next loop commit
        if sent:
            _observe(started, batch, rows)
            gathered.committed()
            if gathered.held:
                batch, committed = self._hold(batch, committed, gathered)
            self._deliver(batch, committed)
        else:
            _LOOP_FALLBACKS_SEND.inc()
            self._to_thread.append((batch, rows))

    def _hold(self, batch: list, committed: "Committed", gathered: Batch) -> tuple[list, "Committed"]:
        """Queue the work a loop commit asked for (Batch.answer_after) for the
        writer thread, and answer the units waiting for it once it is done;
        the rest of the commit, to answer now."""
        outcomes, after, later = committed
        now, waiting = ([], []), ([], [])
        for index, (queued, outcome) in enumerate(zip(batch, outcomes, strict=True)):
            part = waiting if index in gathered.held_units else now
            part[0].append(queued)
            part[1].append(outcome)
        held = list(gathered.held)
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda done: self._answer_held(done, *waiting))
        self._held.add(future)
        future.add_done_callback(self._held.discard)
        # First in the thread's next commit: its frames have waited a commit already.
        self._pending.insert(0, (lambda b: [unit(b) for unit in held], future))
        self._wake()
        return now[0], (now[1], after, later)

    def _answer_held(self, done: asyncio.Future, batch: list, outcomes: list) -> None:
        if not done.cancelled():
            done.exception()  # logged by the commit that failed it; retrieved here
        self._deliver(batch, (outcomes, [], []))

    def _submit_later(self, unit: Unit) -> None:
        del self._timers[unit]
        self.submit(unit)

    def _start(self, work: AfterCommit) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        task = asyncio.get_running_loop().create_task(work(), context=contextvars.Context())
        self._after_tasks.add(task)
        task.add_done_callback(self._after_done)

    def _after_done(self, task: asyncio.Task) -> None:
        self._after_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("After-commit work failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait until everything queued so far is committed: each kind of
        unit is taken in order; then the loop's commits still in flight, and
        the thread's commit of those whose send failed."""
        await asyncio.gather(self.run(lambda batch: None), self.run(gathering(lambda batch: None)))
        if self._sending:
            await asyncio.wait(set(self._sending))
        if self._held:  # (queued as their sends ended)
            await asyncio.wait(set(self._held))
        while self._to_thread or (self._threaded is not None and not self._threaded.done()):
            await self.run(lambda batch: None)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await self.drain()  # what is queued, and the commits in flight
        in_flight = [*self._sending, *([self._threaded] if self._threaded is not None else [])]
        if in_flight:
            await asyncio.wait(in_flight)  # any queued after the drain began
        if self._held:  # what those sends asked the thread for
            await asyncio.wait(set(self._held))
        # What the commits asked for, and the writer's task (their end woke it).
        for timer in self._timers.values():
            timer.cancel()
        if self._task is not None:
            self._task.cancel()
        loop_sql, self._loop_sql = self._loop_sql, []  # no new connection after close
        for sql_conn in loop_sql:
            await sql_conn.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, connections.close_all)
        await loop.run_in_executor(self._reader, connections.close_all)

    def _guarded(self, func: Callable[[], Any]) -> Any:
        self._refresh_connection()
        try:
            return func()
        except (InterfaceError, OperationalError):
            # The connection may have died (database restart): next time, a new one.
            connection.close_if_unusable_or_obsolete()
            raise

    def _refresh_connection(self) -> None:
        """Drop an obsolete or broken connection, at most every few seconds.

        `close_old_connections` per unit would make Django's health check (a
        round trip) precede every query; the writer's threads are long-lived, so the
        check is only needed now and then, and after an error."""
        now = time.monotonic()
        if now - getattr(self._last_refresh, "at", 0.0) >= REFRESH_SECONDS:
            self._last_refresh.at = now
            close_old_connections()

    def _timed_commit(self, units: list[Unit], rows: list) -> "Committed":
        started = time.perf_counter()
        try:
            return self._commit(units, rows)
        finally:
            _observe(started, units, rows)

    def _rows_alone(self, rows: list, *, refused: Exception | None = None) -> None:
        """Insert rows whose commit failed, in a transaction of their own; if
        the database refuses one of them (`refused`: it did, in a commit of
        these rows alone), in halves down to that row: the message log of
        every station in the commit must not go with it. Any other failure
        (the database down, read-only) is not tried row by row."""
        if refused is None:
            try:
                with transaction.atomic():
                    Batch(rows).flush()
                return
            except (DataError, IntegrityError) as exc:
                refused = exc
                connection.close_if_unusable_or_obsolete()
            except Exception:
                logger.exception("Writing %d log rows failed", len(rows))
                return
        if len(rows) == 1:
            logger.error("A log row the database refuses was dropped: %.500r", rows[0], exc_info=refused)
            return
        half = len(rows) // 2
        self._rows_alone(rows[:half])
        self._rows_alone(rows[half:])

    def _commit(self, units: list[Unit], rows: list) -> "Committed":
        """Run all units, and insert `rows`, in one transaction; if that fails,
        the rows and then each unit in a transaction of its own."""
        self._refresh_connection()
        try:
            batch = Batch(rows, self._kept)
            with transaction.atomic():
                results = [unit(batch) for unit in units]
                batch.flush()
            return [(True, r) for r in results], batch.after, batch.later
        except Exception as exc:
            if len(units) <= 1 and not rows:
                logger.exception("Write failed")
                return [(False, exc)], [], []
            # Rows alone, refused: the same commit again would be refused again.
            refused = exc if not units and isinstance(exc, (DataError, IntegrityError)) else None
        # One bad unit must not fail the frames it happened to share a commit with.
        connection.close_if_unusable_or_obsolete()
        if rows:
            self._rows_alone(rows, refused=refused)
        outcomes, after, later = [], [], []
        for unit in units:
            try:
                batch = Batch(kept=self._kept)
                with transaction.atomic():
                    result = unit(batch)
                    batch.flush()
                outcomes.append((True, result))
                after.extend(batch.after)
                later.extend(batch.later)
            except Exception as exc:
                logger.exception("Write failed")
                outcomes.append((False, exc))
        return outcomes, after, later
