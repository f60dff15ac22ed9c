"""Group commit: the station hot path's database writes, many frames per transaction.

Handlers hand a sync unit of work to `db_run`; one writer thread per process
takes every unit queued meanwhile and runs them in one database transaction,
then resolves each caller, so a frame is acknowledged only after its data is
committed, without one ORM round trip (or commit) per frame on the event loop
or on Django's single sync thread.
"""

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, NamedTuple, Protocol, TypeVar

from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    models,
    transaction,
)

from ocpp_gateway import metrics
from ocpp_gateway.conf import gateway_settings

logger = logging.getLogger(__name__)


class CommitState(Protocol):
    """State that units gather during one commit (for example the latest meter
    reading per transaction) and write once, before the commit's rows."""

    def flush(self, batch: "Batch") -> None: ...


S = TypeVar("S", bound=CommitState)
AfterCommit = Callable[[], Awaitable[None]]


class Batch:
    """What the units of one commit share. The writer's interface to services:
    rows to insert, state gathered per commit, work to start once committed."""

    def __init__(self, rows: list | None = None) -> None:
        self._rows: dict[type, list] = {}
        self._values: dict[tuple[type, tuple[str, ...]], list[tuple]] = {}
        for row in rows or ():
            if isinstance(row, Values):
                self.insert_values(*row)
            else:
                self.insert(row)
        self._states: dict[type, CommitState] = {}
        self.after: list[AfterCommit] = []

    def insert(self, instance) -> None:
        """Insert this model instance with the commit (in bulk, no pk back)."""
        self._rows.setdefault(type(instance), []).append(instance)

    def insert_values(self, model: type, columns: tuple[str, ...], values: tuple) -> None:
        """Insert one `model` row given as plain `values` of `columns` (field
        attnames; every field without a database default must be named): on
        the hot path several times cheaper than building a model instance."""
        self._values.setdefault((model, columns), []).append(values)

    def state(self, kind: type[S]) -> S:
        """This commit's `kind()` instance, created on first use; its `flush`
        runs once when the units are done."""
        state = self._states.get(kind)
        if state is None:
            state = self._states[kind] = kind()
        return state

    def after_commit(self, work: AfterCommit) -> None:
        """Start `work()` on the event loop once this commit succeeded."""
        self.after.append(work)

    def flush(self) -> None:
        states, self._states = self._states, {}
        for state in states.values():
            state.flush(self)
        for model, rows in self._rows.items():
            if connection.vendor == "postgresql":
                _copy_rows(model, rows)
            else:
                model.objects.bulk_create(rows, batch_size=500)
        self._rows.clear()
        for (model, columns), values in self._values.items():
            if connection.vendor == "postgresql":
                _copy_values(model, columns, values)
            else:
                model.objects.bulk_create(
                    [model(**dict(zip(columns, v, strict=True))) for v in values], batch_size=500
                )
        self._values.clear()


def _copy_rows(model, rows: list) -> None:
    """Insert with COPY: on the hot path several times cheaper than INSERT
    for both Python and PostgreSQL. Rows get no pk back (none is needed)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for row in rows:
        for field in fields:
            field.pre_save(row, add=True)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(
            f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row([f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields])


# Plain types psycopg adapts as they are; other fields' values go through the
# field's own conversion (JSON, decimals...).
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.DateTimeField,
    models.BooleanField,
    models.ForeignKey,
)


def _copy_values(model, columns: tuple[str, ...], values: list[tuple]) -> None:
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    convert = [
        None if type(f) in _AS_IS else partial(f.get_db_prep_save, connection=connection) for f in fields
    ]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({names}) FROM STDIN") as copy,
    ):
        if not any(convert):
            for row in values:
                copy.write_row(row)
            return
        for row in values:
            copy.write_row([v if c is None else c(v) for c, v in zip(convert, row, strict=True)])


class Values(NamedTuple):
    """A row for `GroupCommitter.add_row` as `Batch.insert_values` takes it."""

    model: type
    columns: tuple[str, ...]
    values: tuple


Unit = Callable[[Batch], Any]
# How often the writer thread checks its database connection (see _refresh_connection).
REFRESH_SECONDS = 10


class GroupCommitter:
    def __init__(self) -> None:
        self._pending: list[tuple[Unit, asyncio.Future | None]] = []
        self._rows: list = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-db")
        self._after_tasks: set[asyncio.Task] = set()
        self._last_refresh = 0.0

    async def run(self, unit: Unit) -> Any:
        """Run `unit(batch)` in the next commit; return its result once committed."""
        future = asyncio.get_running_loop().create_future()
        self._enqueue(unit, future)
        return await future

    def submit(self, unit: Unit) -> None:
        """Queue `unit` for the next commit without waiting for it."""
        self._enqueue(unit, None)

    def add_row(self, row) -> None:
        """Insert `row` (a model instance or `Values`) with the next commit,
        without waiting (the message log: a frame's row needs no unit of its own)."""
        self._rows.append(row)
        self._wake()

    async def call(self, func: Callable[[], Any]) -> Any:
        """Run a plain sync function (reads, connect-time lookups) on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, func)

    def _enqueue(self, unit: Unit, future: asyncio.Future | None) -> None:
        self._pending.append((unit, future))
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()
        if self._task is None or self._task.done():
            # A fresh context: the writer serves every station, its log lines
            # must not carry the station id bound by whichever woke it first.
            self._task = asyncio.get_running_loop().create_task(self._loop(), context=contextvars.Context())

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending or self._rows:
                limit = gateway_settings.MAX_BATCH
                batch, self._pending = self._pending[:limit], self._pending[limit:]
                rows, self._rows = self._rows, []
                units = [unit for unit, _ in batch]
                outcomes, after = await loop.run_in_executor(self._executor, self._timed_commit, units, rows)
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
        """Wait until everything queued so far is committed."""
        await self.run(lambda batch: None)

    async def close(self) -> None:
        if self._task is not None:
            if self._pending or self._rows:
                await self.drain()
            self._task.cancel()
        await asyncio.get_running_loop().run_in_executor(self._executor, connections.close_all)

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
        round trip) precede every query; the writer thread is long-lived, so the
        check is only needed now and then, and after an error."""
        now = time.monotonic()
        if now - self._last_refresh >= REFRESH_SECONDS:
            self._last_refresh = now
            close_old_connections()

    def _timed_commit(
        self, units: list[Unit], rows: list
    ) -> tuple[list[tuple[bool, Any]], list[AfterCommit]]:
        started = time.perf_counter()
        try:
            return self._commit(units, rows)
        finally:
            metrics.writer_commit_seconds.observe(time.perf_counter() - started)
            metrics.writer_batch_size.labels("units").observe(len(units))
            metrics.writer_batch_size.labels("rows").observe(len(rows))

    def _commit(self, units: list[Unit], rows: list) -> tuple[list[tuple[bool, Any]], list[AfterCommit]]:
        """Run all units, and insert `rows`, in one transaction; if that fails,
        the rows and then each unit in a transaction of its own."""
        self._refresh_connection()
        try:
            batch = Batch(rows)
            with transaction.atomic():
                results = [unit(batch) for unit in units]
                batch.flush()
            return [(True, r) for r in results], batch.after
        except Exception as exc:
            if len(units) <= 1 and not rows:
                logger.exception("Write failed")
                return [(False, exc)], []
        # One bad unit must not fail the frames it happened to share a commit with.
        connection.close_if_unusable_or_obsolete()
        if rows:
            try:
                with transaction.atomic():
                    Batch(rows).flush()
            except Exception:
                logger.exception("Writing %d log rows failed", len(rows))
        outcomes, after = [], []
        for unit in units:
            try:
                batch = Batch()
                with transaction.atomic():
                    result = unit(batch)
                    batch.flush()
                outcomes.append((True, result))
                after.extend(batch.after)
            except Exception as exc:
                logger.exception("Write failed")
                outcomes.append((False, exc))
        return outcomes, after
