"""Group commit: many frames' writes in one transaction, each caller answered after commit."""

import asyncio
import gc
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from ocpp_gateway.chargepoint import _LOG_COLUMNS
from ocpp_gateway.writer import GroupCommitter, Values, gathering
from stations.models import MessageLog, Station
from tests.postgres import last_query

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def writer():
    instance = GroupCommitter()
    yield instance
    await instance.close()


def _log(n: int | str):
    def unit(batch):
        from evpower.clock import utcnow

        batch.insert_values(MessageLog, _LOG_COLUMNS, ("W", "in", "CALL", str(n), "", {}, utcnow()))
        return n

    return unit


async def test_units_queued_together_share_one_commit(writer):
    batches = set()

    def unit(n):
        def run(batch):
            assert connection.in_atomic_block
            batches.add(id(batch))
            return _log(n)(batch)

        return run

    results = await asyncio.gather(*(writer.run(unit(i)) for i in range(50)))
    assert results == list(range(50))
    assert await MessageLog.objects.filter(station_id="W").acount() == 50
    assert len(batches) == 1  # one transaction for all fifty, not fifty


async def test_failing_unit_does_not_fail_its_batch_mates(writer):
    def boom(batch):
        Station.objects.create(station_id="DUP")
        Station.objects.create(station_id="DUP")  # unique violation

    outcomes = await asyncio.gather(
        writer.run(_log(1)), writer.run(boom), writer.run(_log(2)), return_exceptions=True
    )
    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], Exception)
    assert await MessageLog.objects.filter(station_id="W").acount() == 2
    assert not await Station.objects.filter(station_id="DUP").aexists()


async def test_caller_is_answered_only_after_commit(writer):
    await writer.run(lambda batch: Station.objects.create(station_id="COMMITTED"))
    # Visible from another connection (the test's async ORM thread) at once.
    assert await Station.objects.filter(station_id="COMMITTED").aexists()


async def test_submitted_rows_are_written_without_waiting(writer):
    writer.submit(_log(7))
    await writer.drain()
    assert await MessageLog.objects.filter(station_id="W", action="7").aexists()


async def test_log_rows_are_written_even_when_a_unit_of_their_commit_fails(writer):
    from evpower.clock import utcnow

    def boom(batch):
        raise RuntimeError("bad unit")

    writer.add_row(Values(MessageLog, _LOG_COLUMNS, ("W", "in", "CALL", "r1", "", {}, utcnow())))
    outcome = await asyncio.gather(writer.run(boom), writer.run(_log(2)), return_exceptions=True)
    assert isinstance(outcome[0], RuntimeError) and outcome[1] == 2
    actions = {a async for a in MessageLog.objects.filter(station_id="W").values_list("action", flat=True)}
    assert actions == {"r1", "2"}


async def test_a_log_row_the_database_refuses_loses_only_itself(writer):
    from evpower.clock import utcnow

    rows = [("W", "in", "CALL", f"r{n}", "", {}, utcnow()) for n in range(7)]
    rows[4] = ("W", "in", "CALL", "bad\x00", "", {}, utcnow())  # NUL: no database text holds it
    for row in rows:
        writer.add_row(Values(MessageLog, _LOG_COLUMNS, row))
    assert await writer.run(_log(9)) == 9  # in the same commit, or the next
    await writer.drain()
    actions = {a async for a in MessageLog.objects.filter(station_id="W").values_list("action", flat=True)}
    # (SQLite stores the bad one too.)
    assert actions - {"bad\x00"} == {"r0", "r1", "r2", "r3", "r5", "r6", "9"}


def test_log_rows_are_not_tried_one_by_one_when_the_database_fails_them_all(monkeypatch):
    """Down or read-only, the database refuses every row: halving down to
    each would be a transaction (and a traceback) per row."""
    from django.db import OperationalError

    from evpower.clock import utcnow
    from ocpp_gateway.writer import Batch

    flushes = []

    def failing_flush(batch):
        flushes.append(len(batch._values.get((MessageLog, _LOG_COLUMNS), [])))
        raise OperationalError("the database is read-only")

    monkeypatch.setattr(Batch, "flush", failing_flush)
    rows = [
        Values(MessageLog, _LOG_COLUMNS, ("W", "in", "CALL", f"r{n}", "", {}, utcnow())) for n in range(16)
    ]
    outcomes, _, _ = GroupCommitter()._commit([lambda batch: None], rows)  # as the writer thread runs it
    assert [ok for ok, _ in outcomes] == [False]
    assert flushes == [16, 16, 0]  # the commit, its rows alone, its unit alone


async def test_state_kept_by_the_writer_outlives_a_commit(writer):
    seen = await writer.run(lambda batch: batch.kept(list).append(1) or list(batch.kept(list)))
    assert seen == [1]
    assert await writer.run(lambda batch: batch.kept(list).append(2) or list(batch.kept(list))) == [1, 2]


async def test_a_unit_asked_for_later_runs_once_however_often_it_was_asked(writer):
    ran = []

    def later(batch):
        ran.append(connection.in_atomic_block)

    def unit(batch):
        batch.run_later(0.05, later)

    await asyncio.gather(writer.run(unit), writer.run(unit))
    await writer.run(unit)
    assert ran == []  # not before its delay
    await asyncio.sleep(0.2)
    await writer.drain()
    assert ran == [True]  # once, in a commit of its own


async def test_json_values_are_stored_as_given_whatever_their_characters(writer):
    from evpower.clock import utcnow

    odd = {"text": 'tab\there, back\\slash, "quotes", new\nline, ünïcødé \u2028', "n": [1, 2.5, None, True]}

    def unit(batch):
        batch.insert_values(MessageLog, _LOG_COLUMNS, ("J", "in", "CALL", "odd", "1", odd, utcnow()))
        batch.insert_values(MessageLog, _LOG_COLUMNS, ("J", "in", "CALL", "none", "2", None, utcnow()))

    await writer.run(unit)
    stored = {
        action: payload
        async for action, payload in MessageLog.objects.filter(station_id="J").values_list(
            "action", "payload"
        )
    }
    assert stored == {"odd": odd, "none": None}


async def test_json_values_beyond_64_bits_are_stored_as_given(writer):
    """Python reads any integer from a station's frame; the fast encoder
    refuses those beyond 64 bits, and the row is still stored."""
    from evpower.clock import utcnow

    huge = {"transactionId": 2**70, "meterValue": [{"value": -(2**64)}]}
    await writer.run(
        lambda batch: batch.insert_values(
            MessageLog, _LOG_COLUMNS, ("H", "in", "CALL", "huge", "1", huge, utcnow())
        )
    )
    assert await MessageLog.objects.filter(station_id="H").values_list("payload", flat=True).aget() == huge


async def test_rows_of_every_field_kind_are_stored_as_given(writer):
    from datetime import UTC, datetime

    from billing.models import MeterValue
    from billing.transactions import METER_COLUMNS

    station = await Station.objects.acreate(station_id="KINDS")
    at = datetime(2026, 12, 3, 10, 30, 15, 123456, tzinfo=UTC)
    row = (None, 2**40, station.pk, 2, at, "Energy.Active.Import.Register", "12.5", "kWh", "", "", "", "")
    await writer.run(lambda batch: batch.insert_values(MeterValue, METER_COLUMNS, row))
    stored = await MeterValue.objects.filter(station=station).values_list(*METER_COLUMNS).aget()
    assert stored == row


async def test_text_too_long_for_its_column_is_never_cut(writer):
    from evpower.clock import utcnow

    too_long = "A" * 65  # action is varchar(64)

    def unit(batch):
        batch.insert_values(MessageLog, _LOG_COLUMNS, ("W", "in", "CALL", too_long, "", {}, utcnow()))

    if connection.vendor == "postgresql":
        # An INSERT's length check (an explicit cast to varchar(64) would cut it).
        with pytest.raises(Exception, match="too long"):
            await writer.run(unit)
        assert not await MessageLog.objects.filter(station_id="W").aexists()
    else:
        # SQLite checks no lengths: stored whole.
        await writer.run(unit)
        assert (
            await MessageLog.objects.filter(station_id="W").values_list("action", flat=True).aget()
            == too_long
        )


async def test_a_unit_asked_for_sooner_than_its_pending_run_runs_at_the_sooner_time(writer):
    ran = []

    def later(batch):
        ran.append(True)

    await writer.run(lambda batch: batch.run_later(30, later))
    await writer.run(lambda batch: batch.run_later(0.05, later))
    await asyncio.sleep(0.3)
    await writer.drain()
    assert ran == [True]  # once, at the sooner time (not 30 s later)


async def test_a_bad_row_fails_only_its_own_unit(writer):
    """A commit's rows are inserted after all its units have run: a bad row
    fails its own unit alone all the same."""
    from evpower.clock import utcnow

    def bad(batch):  # action is NOT NULL
        batch.insert_values(MessageLog, _LOG_COLUMNS, ("W", "in", "CALL", None, "", {}, utcnow()))

    outcome = await asyncio.gather(
        writer.run(_log(1)), writer.run(bad), writer.run(_log(2)), return_exceptions=True
    )
    assert outcome[0] == 1 and outcome[2] == 2
    assert "null" in str(outcome[1]).lower()
    actions = {a async for a in MessageLog.objects.filter(station_id="W").values_list("action", flat=True)}
    assert actions == {"1", "2"}
    assert await writer.run(_log(3)) == 3  # the writer's connection is usable after the failure


async def test_a_row_with_too_few_or_too_many_values_is_refused(writer):
    from evpower.clock import utcnow

    for row in (("W", "in", "CALL", "x", "", {}), ("W", "in", "CALL", "x", "", {}, utcnow(), "extra")):
        with pytest.raises(ValueError, match="values for 7 columns"):
            await writer.run(lambda batch, row=row: batch.insert_values(MessageLog, _LOG_COLUMNS, row))
    assert not await MessageLog.objects.filter(station_id="W").aexists()


class _Echo:
    """A commit state whose flush writes a row and reads it back (Batch.query)."""

    def __init__(self) -> None:
        self.actions: list[str] = []

    def flush(self, batch) -> None:
        from evpower.clock import utcnow

        for action in self.actions:
            rows = batch.query(
                'INSERT INTO "stations_messagelog" ("station_id", "direction", "message_type",'
                ' "action", "unique_id", "payload", "created_at")'
                ' VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING "action"',
                ["E", "in", "CALL", action, "", "{}", utcnow()],
            )
            assert rows == [(action,)]


def _echo(action: str, *, bad_row: bool = False):
    def unit(batch):
        from evpower.clock import utcnow

        batch.state(_Echo).actions.append(action)
        if bad_row:  # action is NOT NULL: fails the commit's last statement
            batch.insert_values(MessageLog, _LOG_COLUMNS, ("W", "in", "CALL", None, "", {}, utcnow()))
        return action

    return unit


async def test_a_failed_commit_loses_what_its_flush_wrote_first(writer):
    """On PostgreSQL a commit whose units sent no SQL opens its transaction
    with its flush's first statement and commits with its last; if the last
    fails, the first is rolled back all the same (and each unit runs again
    alone)."""
    outcome = await asyncio.gather(
        writer.run(_echo("good")), writer.run(_echo("bad", bad_row=True)), return_exceptions=True
    )
    assert outcome[0] == "good"
    assert "null" in str(outcome[1]).lower()
    echoed = [a async for a in MessageLog.objects.filter(station_id="E").values_list("action", flat=True)]
    assert echoed == ["good"]  # not "bad", and "good" once: its first run was rolled back
    # The psycopg connection is back to Django's way: the next commit's SQL
    # begins a transaction (in autocommit each statement would commit alone).
    if connection.vendor == "postgresql":
        from psycopg.pq import TransactionStatus

        def in_transaction(batch):
            Station.objects.exists()
            return connection.connection.autocommit, connection.connection.info.transaction_status

        assert await writer.run(in_transaction) == (False, TransactionStatus.INTRANS)
    assert await writer.run(_echo("after")) == "after"
    assert await MessageLog.objects.filter(station_id="E", action="after").aexists()


async def test_a_commit_whose_units_sent_no_sql_reaches_the_database_as_one_query(writer):
    """BEGIN, the commit's rows and COMMIT in one round trip (PostgreSQL):
    each of the writer's round trips waits for the GIL from the event loop."""
    if connection.vendor != "postgresql":
        # No round trips to save: the rows are simply written.
        await asyncio.gather(*(writer.run(_log(i)) for i in range(3)))
        assert await MessageLog.objects.filter(station_id="W").acount() == 3
        return
    pid = await writer.run(lambda batch: connection.connection.info.backend_pid)
    await asyncio.gather(*(writer.run(_log(i)) for i in range(3)))
    query = await sync_to_async(last_query)(pid)
    assert query.startswith('BEGIN; INSERT INTO "stations_messagelog"'), query[:80]
    assert query.endswith("; COMMIT"), query[-80:]
    assert await MessageLog.objects.filter(station_id="W").acount() == 3


async def test_a_commit_whose_units_sent_sql_is_committed_as_django_does(writer):
    def unit(batch):
        Station.objects.create(station_id="ORM")  # the unit's SQL begins the transaction
        return _log(1)(batch)

    def unit_and_pid(batch):
        return unit(
            batch
        ), connection.connection.info.backend_pid if connection.vendor == "postgresql" else None

    result, pid = await writer.run(unit_and_pid)
    assert result == 1
    assert await Station.objects.filter(station_id="ORM").aexists()
    assert await MessageLog.objects.filter(station_id="W").acount() == 1
    if pid is not None:  # its rows, then Django's own COMMIT
        assert await sync_to_async(last_query)(pid) == "COMMIT"


def _gathering_log(n: int, ran_on: list, *, bad: bool = False):
    """A gathering unit (rows only, no SQL) that notes the thread it ran on."""

    def unit(batch):
        from evpower.clock import utcnow

        ran_on.append(threading.current_thread().name)
        action = None if bad else str(n)  # action is NOT NULL
        batch.insert_values(MessageLog, _LOG_COLUMNS, ("G", "in", "CALL", action, "", {}, utcnow()))
        return n

    return gathering(unit)


async def test_a_commit_of_gathering_units_is_sent_from_the_event_loop(writer):
    """On PostgreSQL the loop gathers and sends it itself: no writer thread,
    whose every wait ends with a wait for the GIL. Elsewhere the thread."""
    ran_on: list[str] = []
    assert await asyncio.gather(*(writer.run(_gathering_log(i, ran_on)) for i in range(3))) == [0, 1, 2]
    assert (
        await MessageLog.objects.filter(station_id="G").acount() == 3
    )  # committed: seen from another connection
    if connection.vendor == "postgresql":
        assert ran_on == [threading.current_thread().name] * 3
    else:
        assert all(name.startswith("ocpp-db") for name in ran_on)


def _loop_connection(writer):
    """The psycopg connection the writer's next loop commit goes on (the
    last freed: one after another, commits take the same)."""
    return writer._free_sql[-1]._conn


def _fallbacks(reason: str) -> float:
    from ocpp_gateway import metrics

    return metrics.writer_loop_fallbacks.labels(reason)._value.get()


async def test_a_gathering_commit_whose_state_reads_rows_back_goes_to_the_writer_thread(writer):
    ran_on: list[str] = []
    before = _fallbacks("gather")

    def unit(batch):
        ran_on.append(threading.current_thread().name)
        return _echo("read back")(batch)

    assert await writer.run(gathering(unit)) == "read back"
    assert [a async for a in MessageLog.objects.filter(station_id="E").values_list("action", flat=True)] == [
        "read back"
    ]  # once
    assert ran_on[-1].startswith("ocpp-db")
    assert _fallbacks("gather") - before == (1 if connection.vendor == "postgresql" else 0)  # counted


async def test_a_bad_row_of_gathering_units_fails_only_its_own_unit(writer):
    ran_on: list[str] = []
    before = _fallbacks("send")
    outcome = await asyncio.gather(
        writer.run(_gathering_log(1, ran_on)),
        writer.run(_gathering_log(2, ran_on, bad=True)),
        writer.run(_gathering_log(3, ran_on)),
        return_exceptions=True,
    )
    assert outcome[0] == 1 and outcome[2] == 3
    assert "null" in str(outcome[1]).lower()
    actions = [a async for a in MessageLog.objects.filter(station_id="G").values_list("action", flat=True)]
    assert sorted(actions) == ["1", "3"]  # each once: the loop's failed attempt left nothing
    assert _fallbacks("send") - before == (1 if connection.vendor == "postgresql" else 0)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_gathering_commits_go_on_when_the_loop_connection_dies(writer, monkeypatch):
    from ocpp_gateway.writer import LoopConnection

    monkeypatch.setattr(LoopConnection, "REST_SECONDS", 0.0)
    ran_on: list[str] = []
    await writer.run(_gathering_log(1, ran_on))
    pid = _loop_connection(writer).info.backend_pid

    def kill():
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # (waits until it is gone)

    await sync_to_async(kill)()
    ran_on.clear()
    assert await writer.run(_gathering_log(2, ran_on)) == 2  # the thread ran it again
    assert ran_on[-1].startswith("ocpp-db")
    ran_on.clear()
    assert await writer.run(_gathering_log(3, ran_on)) == 3  # the loop again, on a new connection
    assert ran_on == [threading.current_thread().name]
    assert sorted(
        [a async for a in MessageLog.objects.filter(station_id="G").values_list("action", flat=True)]
    ) == [
        "1",
        "2",
        "3",
    ]


async def test_a_failed_statement_leaves_the_loop_connection_in_use(writer):
    """A bad row (like a deadlock or a timeout) rolls back only that commit:
    the loop keeps its connection, and the next commit goes on it."""
    ran_on: list[str] = []
    await writer.run(_gathering_log(1, ran_on))
    before = _loop_connection(writer) if connection.vendor == "postgresql" else None
    with pytest.raises(Exception, match=r"(?i)null"):
        await writer.run(_gathering_log(2, ran_on, bad=True))
    ran_on.clear()
    assert await writer.run(_gathering_log(3, ran_on)) == 3
    if connection.vendor == "postgresql":
        assert _loop_connection(writer) is before and not before.closed
        assert ran_on == [threading.current_thread().name]


async def test_a_gathering_unit_with_a_row_of_the_wrong_width_fails_alone(writer):
    ran_on: list[str] = []
    running = asyncio.ensure_future(writer.run(_gathering_log(1, ran_on)))
    await asyncio.sleep(0)  # its unit queued; the writer's task is about to take it
    writer.add_row(Values(MessageLog, _LOG_COLUMNS, ("G", "in", "CALL", "short")))  # 4 values for 7 columns
    # Answered (the writer did not die with the bad row of its commit), its row stored.
    assert await asyncio.wait_for(running, 10) == 1
    assert await writer.run(_gathering_log(2, ran_on)) == 2
    assert sorted(
        [a async for a in MessageLog.objects.filter(station_id="G").values_list("action", flat=True)]
    ) == [
        "1",
        "2",
    ]


def _advisory(function: str, lock: int) -> None:
    """Call PostgreSQL's advisory lock `function` on `lock` (sync)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [lock])


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_loop_commit_is_sent_while_the_last_is_still_at_postgresql(writer):
    """The next commit of gathering units goes on the other loop connection
    while one waits at PostgreSQL (here for a lock the test holds); a writer
    thread's commit waits until both are done."""
    lock = 4242
    ran_on: list[str] = []

    def waits_for_the_lock(batch):
        batch.write("SELECT pg_advisory_xact_lock(%s)", [lock])
        return _gathering_log(1, ran_on)(batch)

    await sync_to_async(_advisory)("pg_advisory_lock", lock)
    try:
        first = asyncio.ensure_future(writer.run(gathering(waits_for_the_lock)))
        await asyncio.sleep(0.3)  # sent, and waiting for the lock
        assert await asyncio.wait_for(writer.run(_gathering_log(2, ran_on)), 5) == 2
        assert not first.done()
        on_thread = asyncio.ensure_future(writer.run(_log(3)))
        await asyncio.sleep(0.3)
        assert not on_thread.done()
    finally:
        await sync_to_async(_advisory)("pg_advisory_unlock", lock)
    assert await asyncio.wait_for(first, 5) == 1
    await asyncio.wait_for(on_thread, 5)
    assert ran_on == [threading.current_thread().name] * 2
    assert sorted([a async for a in MessageLog.objects.values_list("action", flat=True)]) == ["1", "2", "3"]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_writer_thread_commit_does_not_hold_up_the_loop_commits_behind_it(writer):
    """While the thread's commit waits (here for a lock the test holds: a
    slow pricing, say), MeterValues-like commits go on from the loop; the
    thread's next commit waits for it."""
    lock = 4343
    ran_on: list[str] = []

    def waits_for_the_lock(batch):
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
        return _log(1)(batch)

    await sync_to_async(_advisory)("pg_advisory_lock", lock)
    try:
        on_thread = asyncio.ensure_future(writer.run(waits_for_the_lock))
        await asyncio.sleep(0.3)  # on the thread, waiting for the lock
        next_on_thread = asyncio.ensure_future(writer.run(_log(3)))
        for n in (2, 4):
            assert await asyncio.wait_for(writer.run(_gathering_log(n, ran_on)), 5) == n
        assert not on_thread.done() and not next_on_thread.done()
    finally:
        await sync_to_async(_advisory)("pg_advisory_unlock", lock)
    await asyncio.wait_for(asyncio.gather(on_thread, next_on_thread), 5)
    assert ran_on == [threading.current_thread().name] * 2
    actions = [a async for a in MessageLog.objects.values_list("action", flat=True)]
    assert sorted(actions) == ["1", "2", "3", "4"]


async def test_drain_waits_for_both_kinds_of_commit(writer):
    ran_on: list[str] = []
    for n in range(3):
        writer.submit(_gathering_log(n, ran_on))
        writer.submit(_log(10 + n))
    await writer.drain()
    assert await MessageLog.objects.acount() == 6


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_loop_commits_left_to_a_busy_thread_go_in_one_commit(writer, monkeypatch, settings):
    """Each of these gathering commits must read rows back, so the loop
    leaves it to the thread; while the thread is busy they wait together,
    and go in one commit (not one each, their frames queued behind each other)."""
    lock, sizes = 4444, []
    timed_commit = writer._timed_commit

    def counted(units, rows):
        sizes.append(len(units))
        return timed_commit(units, rows)

    monkeypatch.setattr(writer, "_timed_commit", counted)
    settings.OCPP = {**settings.OCPP, "MAX_BATCH": 3}

    def waits_for_the_lock(batch):
        _advisory("pg_advisory_xact_lock", lock)

    await sync_to_async(_advisory)("pg_advisory_lock", lock)
    try:
        busy = asyncio.ensure_future(writer.run(waits_for_the_lock))
        await asyncio.sleep(0.2)
        left = []
        for n in range(4):
            left.append(asyncio.ensure_future(writer.run(gathering(_echo(f"e{n}")))))
            await asyncio.sleep(0.1)  # each taken by the loop on its own
    finally:
        await sync_to_async(_advisory)("pg_advisory_unlock", lock)
    assert await asyncio.wait_for(asyncio.gather(*left), 5) == ["e0", "e1", "e2", "e3"]
    await busy
    assert sizes == [1, 3, 1]  # merged, MAX_BATCH at most


async def test_drain_waits_for_a_loop_commit_left_to_the_thread(writer):
    """A loop commit whose send fails (a bad row) is run again by the thread:
    drain returns only once that is done too."""
    ran_on: list[str] = []
    good = asyncio.ensure_future(writer.run(_gathering_log(1, ran_on)))
    bad = asyncio.ensure_future(writer.run(_gathering_log(2, ran_on, bad=True)))
    for _ in range(3):
        await asyncio.sleep(0)  # taken, and sent: drain's own units go in later commits
    await writer.drain()
    assert good.done() and bad.done()
    assert good.result() == 1 and isinstance(bad.exception(), Exception)
    assert [a async for a in MessageLog.objects.values_list("action", flat=True)] == ["1"]


async def test_a_failed_writer_thread_commit_answers_its_units(writer, monkeypatch):
    """The writer's own failure (not a unit's): each caller gets the error
    instead of waiting for ever, and the writer goes on with the next commit."""
    timed_commit = writer._timed_commit
    calls = []

    def fails_once(units, rows):
        calls.append(len(units))
        if len(calls) == 1:
            raise RuntimeError("writer thread lost")
        return timed_commit(units, rows)

    monkeypatch.setattr(writer, "_timed_commit", fails_once)
    outcome = await asyncio.wait_for(asyncio.gather(writer.run(_log(1)), return_exceptions=True), 5)
    assert isinstance(outcome[0], RuntimeError)
    assert await asyncio.wait_for(writer.run(_log(2)), 5) == 2
    assert [a async for a in MessageLog.objects.values_list("action", flat=True)] == ["2"]


async def test_close_cancels_what_commits_asked_for_later(writer):
    ran = []

    def later(batch):
        ran.append("later")

    await writer.run(lambda batch: batch.run_later(0.2, later))
    assert len(writer._timers) == 1
    await writer.close()
    await asyncio.sleep(0.4)
    assert ran == []  # not run on a closed writer (it would open a connection again)
    assert all(timer.cancelled() for timer in writer._timers.values())


async def test_a_commit_function_runs_once_its_commit_is_done(writer):
    """Batch.on_commit, on either kind of commit, on the thread that
    committed it; on the writer thread, after the commit (its rows are
    visible from another connection)."""
    seen = []

    def unit(batch):
        def done():
            seen.append((threading.current_thread().name, MessageLog.objects.filter(station_id="W").count()))

        _log(1)(batch)
        batch.on_commit(done)

    def gathering_unit(batch):
        _log("g")(batch)
        batch.on_commit(lambda: seen.append((threading.current_thread().name, None)))

    await writer.run(unit)
    assert len(seen) == 1 and seen[0][0].startswith("ocpp-db") and seen[0][1] == 1
    await writer.run(gathering(gathering_unit))
    expected = threading.current_thread().name if connection.vendor == "postgresql" else "ocpp-db"
    assert len(seen) == 2 and seen[1][0].startswith(expected)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_commit_function_of_a_failed_loop_send_does_not_run(writer):
    """A loop commit whose send fails is run again by the thread: only that
    run's function runs (the failed attempt's would run it twice)."""
    runs = []

    def unit(batch):
        _log("f")(batch)
        batch.on_commit(lambda: runs.append(threading.current_thread().name))

    ran_on: list[str] = []
    outcome = await asyncio.gather(
        writer.run(gathering(unit)), writer.run(_gathering_log(2, ran_on, bad=True)), return_exceptions=True
    )
    assert outcome[0] is None and isinstance(outcome[1], Exception)
    assert len(runs) == 1 and runs[0].startswith("ocpp-db")


def _asking(n: int, work, ran_on: list):
    """A gathering unit that writes its log row and asks, on the loop, for
    `work` on the writer thread before its answer (Batch.answer_after)."""

    def unit(batch):
        _gathering_log(n, ran_on)(batch)
        if batch.on_loop:
            batch.answer_after(work, {batch.unit})
        return n

    return gathering(unit)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_loop_commit_answers_a_unit_only_once_the_thread_work_it_asked_for_is_done(writer):
    """The other units of its commit are answered at once: the commit is not
    sent to the writer thread whole, so they do not wait for that work."""
    release, work_ran_on, ran_on = threading.Event(), [], []

    def work(batch):
        work_ran_on.append(threading.current_thread().name)
        release.wait(5)

    held = asyncio.ensure_future(writer.run(_asking(1, work, ran_on)))
    free = asyncio.ensure_future(writer.run(_gathering_log(2, ran_on)))
    try:
        assert await asyncio.wait_for(free, 5) == 2  # while the work waits
        assert not held.done()
        # Both committed (by the loop: one commit), seen from another connection.
        assert await MessageLog.objects.filter(station_id="G").acount() == 2
        assert ran_on == [threading.current_thread().name] * 2
    finally:
        release.set()
    assert await asyncio.wait_for(held, 5) == 1
    assert len(work_ran_on) == 1 and work_ran_on[0].startswith("ocpp-db")


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_unit_waiting_for_thread_work_that_fails_is_answered_as_its_commit_went(writer, caplog):
    """Its rows are committed: the work's failure is logged, not the unit's."""

    def work(batch):
        raise RuntimeError("pricing failed")

    ran_on: list[str] = []
    assert await asyncio.wait_for(writer.run(_asking(1, work, ran_on)), 5) == 1
    assert [a async for a in MessageLog.objects.values_list("action", flat=True)] == ["1"]
    assert "pricing failed" in caplog.text
    gc.collect()  # (a future whose exception nobody took says so when freed)
    assert "never retrieved" not in caplog.text


async def test_answer_after_is_refused_outside_a_loop_commit(writer):
    def unit(batch):
        batch.answer_after(lambda b: None, {batch.unit})

    with pytest.raises(RuntimeError, match="event loop"):
        await writer.run(unit)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_drain_waits_for_the_thread_work_a_loop_commit_asked_for(writer):
    done = []
    held = asyncio.ensure_future(writer.run(_asking(1, lambda batch: done.append(1), [])))
    for _ in range(3):
        await asyncio.sleep(0)  # taken and sent: drain's own units go in later commits
    await writer.drain()
    assert done == [1]
    await asyncio.sleep(0)  # (its answer is a callback of the work's end)
    assert held.done() and held.result() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_loop_commit_writes_as_the_role_django_assumes(writer, monkeypatch):
    """DATABASES OPTIONS assume_role: Django's connections SET ROLE after
    connecting; the loop's commits must write as that role too."""
    role = "evpower_test_writer"

    def grant():
        with connections["default"].cursor() as cursor:
            cursor.execute(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
                f"THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"
            )
            cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")

    def revoke():
        with connections["default"].cursor() as cursor:
            cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")

    await sync_to_async(grant)()
    try:
        monkeypatch.setitem(connections["default"].settings_dict["OPTIONS"], "assume_role", role)
        ran_on: list[str] = []
        assert await writer.run(_gathering_log(1, ran_on)) == 1
        assert ran_on == [threading.current_thread().name]  # on the loop
        cursor = await _loop_connection(writer).execute("SELECT current_user")
        assert (await cursor.fetchone())[0] == role
    finally:
        await writer.close()  # (its connections, before the grants go)
        await sync_to_async(revoke)()
