"""billing end to end at the service level: what the station reports,
turned into billed sessions. Expected costs are computed by hand beside them."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection

from billing import tariffs, transactions
from billing.models import MeterValue, Session, SessionStatus, SessionStopReason, Tariff, Transaction
from billing.sessions import START_TIMEOUT_SECONDS, sessions_fail_stale
from ocpp16.times import format_time, parse_meter_values
from ocpp_gateway import commands
from ocpp_gateway.runtime import runtime
from ocpp_gateway.writer import Batch, GroupCommitter
from stations.models import IdTagStatus
from stations.reports import station_boot
from tests.factories import IdTagFactory, StationFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)  # a Wednesday


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def station():
    return StationFactory(station_id="CP-BILL", time_zone="UTC")


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def tag(owner):
    return IdTagFactory(id_tag="TAG-OWNED", owner=owner)


def make_tariff(stations=(), **fields) -> Tariff:
    values = {"name": "Flat", "currency": "EUR", **fields}
    tariff = Tariff.objects.create(**values)
    tariff.stations.set(stations)
    return tariff


def start(station, id_tag="TAG-OWNED", meter_start=1000, at=T0, connector_id=1) -> transactions.StartResult:
    return transactions.transaction_start(
        station_pk=station.pk,
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        timestamp=at,
        reservation_id=None,
        now=at,
    )


def limit_stops(batch: Batch) -> list[tuple[int, int]]:
    """The limit stops this commit starts once committed: (station pk, transaction id)."""
    return [
        (work.keywords["station"].pk, work.keywords["transaction_id"])
        for work in batch.after
        if work.func is transactions.limit_stop_send
    ]


def record_sample(batch, station, tx_id, ts, value, connector_id=1) -> None:
    """One energy sample [time, Wh str] recorded into `batch` as the gateway does."""
    transactions.meter_values_record(
        batch=batch,
        station_pk=station.pk,
        connector_id=connector_id,
        transaction_id=tx_id,
        meter_values=[{"timestamp": ts, "sampledValue": [{"value": value}]}],
    )


def meter(station, tx_id, *samples, batch=None, connector_id=1) -> Batch:
    """Record energy samples [(time, Wh str)] as the gateway does, and commit them."""
    batch = batch or Batch()
    for ts, value in samples:
        record_sample(batch, station, tx_id, ts, value, connector_id)
    batch.flush()
    return batch


def sample_unit(station, tx_id, ts, value, connector_id=1):
    """A writer unit recording one energy sample [time, Wh str] as the gateway does."""
    return lambda batch: record_sample(batch, station, tx_id, ts, value, connector_id)


def first_sample_priced(station, settings, every=60) -> tuple[int, dict]:
    """LIVE_SESSION_SECONDS `every`, a 1.00/kWh tariff and a transaction whose
    first sample (1 kWh at minute 1) is priced with its commit: the
    transaction id and what the writer keeps from commit to commit."""
    settings.OCPP = {"LIVE_SESSION_SECONDS": every}
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id
    kept = {}
    meter(station, tx_id, (minutes(1), "1000"), batch=Batch(kept=kept))
    return tx_id, kept


def meter_each(station, tx_ids, at, value, batch) -> Batch:
    """One energy sample for each transaction (on connectors 1, 2, ...), all in one commit."""
    for connector_id, tx_id in enumerate(tx_ids, start=1):
        record_sample(batch, station, tx_id, at, value, connector_id)
    batch.flush()
    return batch


def stop(station, tx_id, meter_stop, at, reason="Remote", transaction_data=None):
    """StopTransaction as the gateway handles it, committed with its batch."""
    batch = Batch()
    info = transactions.transaction_stop(
        batch=batch,
        station_pk=station.pk,
        transaction_id=tx_id,
        id_tag=None,
        meter_stop=meter_stop,
        timestamp=at,
        reason=reason,
        transaction_data=parse_meter_values(transaction_data) if transaction_data else None,
        payload={"transactionData": transaction_data} if transaction_data else {},
        now=at,
    )
    batch.flush()
    return info


def waiting_session(station, tag, status=SessionStatus.STARTING, **fields) -> Session:
    return Session.objects.create(
        user=tag.owner,
        station=station,
        connector_id=1,
        id_tag=tag.id_tag,
        status=status,
        remote_start_at=T0 if status == SessionStatus.STARTING else None,
        **fields,
    )


# Tariff choice -----------------------------------------------------------------


def test_station_tariff_beats_network_default_and_newest_wins(station):
    make_tariff(name="default")
    make_tariff(name="station old", stations=[station])
    newest = make_tariff(name="station new", stations=[station])
    make_tariff(name="other station", stations=[StationFactory()])
    assert tariffs.tariff_applicable(station_pk=station.pk, at=T0) == newest


def test_archived_and_out_of_window_tariffs_do_not_apply(station):
    default = make_tariff(name="default")
    make_tariff(name="archived", stations=[station], is_active=False)
    make_tariff(name="future", stations=[station], valid_from=minutes(60))
    make_tariff(name="past", stations=[station], valid_to=T0)  # valid_to is exclusive
    assert tariffs.tariff_applicable(station_pk=station.pk, at=T0) == default
    assert tariffs.tariff_applicable(station_pk=StationFactory().pk, at=T0) == default


def test_tariff_delete_archives_a_used_tariff_and_deletes_an_unused_one(station, tag):
    used, unused = make_tariff(name="used"), make_tariff(name="unused")
    waiting_session(station, tag, tariff=used, tariff_snapshot=tariffs.tariff_snapshot(used))
    assert tariffs.tariff_delete(tariff=used) is True
    assert tariffs.tariff_delete(tariff=unused) is False
    used.refresh_from_db()
    assert used.is_active is False
    assert not Tariff.objects.filter(pk=unused.pk).exists()
    assert tariffs.tariff_applicable(station_pk=station.pk, at=T0) is None


# Start --------------------------------------------------------------------------


def test_a_start_at_the_station_takes_eight_queries(station, tag, django_assert_num_queries):
    # The connector's open or identical transaction, the tag (info and owner),
    # another transaction of the tag, the insert, the session waiting for it,
    # the station's and the network's tariff, the session's insert.
    with django_assert_num_queries(8):
        start(station)


def test_start_transaction_links_the_waiting_session(station, tag):
    session = waiting_session(station, tag, limit_kwh=Decimal("5"))
    result = start(station, id_tag="tag-owned")  # idTag is case-insensitive
    session.refresh_from_db()
    assert session.transaction_id == result.transaction_id
    assert session.status == SessionStatus.CHARGING
    assert session.started_at == T0
    assert Session.objects.count() == 1


def test_remote_started_session_is_linked_before_one_only_created(station, tag):
    created = waiting_session(station, tag, status=SessionStatus.CREATED)
    starting = waiting_session(station, tag, status=SessionStatus.STARTING)
    Session.objects.filter(pk=created.pk).update(created_at=minutes(5))  # the newer one
    start(station)
    starting.refresh_from_db()
    created.refresh_from_db()
    assert starting.status == SessionStatus.CHARGING
    assert created.status == SessionStatus.CREATED


def test_rfid_start_is_billed_to_the_tag_owner_with_the_applicable_tariff(station, tag, owner):
    tariff = make_tariff(price_per_kwh="0.40", stations=[station])
    result = start(station, meter_start=0)
    session = Session.objects.get(transaction_id=result.transaction_id)
    assert session.user == owner
    assert session.tariff == tariff
    assert session.tariff_snapshot["price_per_kwh"] == "0.4000"
    assert session.currency == "EUR"
    stop(station, result.transaction_id, 2500, minutes(20))
    session.refresh_from_db()
    # 2.5 kWh * 0.40 = 1.00
    assert (session.status, session.energy_kwh, session.cost) == (
        "completed",
        Decimal("2.5"),
        Decimal("1.00"),
    )


def test_unowned_tag_start_gets_a_session_without_user(station):
    IdTagFactory(id_tag="FLEET", owner=None)
    result = start(station, id_tag="FLEET")
    assert Session.objects.get(transaction_id=result.transaction_id).user is None


def test_session_created_without_a_tariff_picks_one_up_at_start(station, tag):
    session = waiting_session(station, tag)
    tariff = make_tariff(session_fee="1.00")
    start(station)
    session.refresh_from_db()
    assert session.tariff == tariff and session.tariff_snapshot["session_fee"] == "1.0000"


def test_session_keeps_the_prices_it_was_created_with(station, tag):
    tariff = make_tariff(price_per_kwh="0.30")
    session = waiting_session(station, tag, tariff=tariff, tariff_snapshot=tariffs.tariff_snapshot(tariff))
    Tariff.objects.filter(pk=tariff.pk).update(price_per_kwh="9.00")
    result = start(station, meter_start=0)
    stop(station, result.transaction_id, 1000, minutes(10))
    session.refresh_from_db()
    assert session.cost == Decimal("0.30")


def test_start_after_a_lost_remote_start_reply_links_the_failed_session(station, tag):
    session = waiting_session(station, tag, limit_kwh=Decimal("3"))
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.FAILED, stop_reason=SessionStopReason.NO_REPLY, stopped_at=T0
    )
    start(station, at=minutes(1))
    session.refresh_from_db()
    assert session.status == SessionStatus.CHARGING
    assert (session.stop_reason, session.stopped_at) == ("", None)
    assert Session.objects.count() == 1


def test_a_refused_start_is_not_revived_by_a_later_transaction(station, tag):
    session = waiting_session(station, tag)
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.FAILED, stop_reason=SessionStopReason.REJECTED
    )
    result = start(station)
    session.refresh_from_db()
    assert session.status == SessionStatus.FAILED
    assert Session.objects.get(transaction_id=result.transaction_id).pk != session.pk


# Live billing and limits -----------------------------------------------------


def test_meter_values_update_live_energy_and_cost(station, tag):
    make_tariff(price_per_kwh="0.30", price_per_minute="0.10", session_fee="0.50")
    tx_id = start(station, meter_start=1000).transaction_id
    meter(station, tx_id, (minutes(10), "4000"))
    session = Session.objects.get(transaction_id=tx_id)
    # 3 kWh * 0.30 = 0.90; 10 min * 0.10 = 1.00; fee 0.50 -> 2.40
    assert session.energy_kwh == Decimal("3.000")
    assert session.cost == Decimal("2.40")
    assert session.status == SessionStatus.CHARGING
    tx = Transaction.objects.get(pk=tx_id)
    assert (tx.last_meter_wh, tx.last_meter_at) == (4000, minutes(10))


def test_a_commits_samples_and_meter_move_take_one_statement(station, tag, settings):
    from django.test.utils import CaptureQueriesContext

    settings.OCPP = {"LIVE_SESSION_SECONDS": 60}
    tx_id = start(station, meter_start=0).transaction_id
    kept = {}
    meter(station, tx_id, (minutes(1), "1000"), batch=Batch(kept=kept))  # priced: its first sample
    with CaptureQueriesContext(connection) as queries:
        meter(station, tx_id, (minutes(2), "2000"), (minutes(3), "3000"), batch=Batch(kept=kept))
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        # Each of the writer's statements waits for the GIL from the event loop.
        [statement] = statements
        assert "billing_metervalue" in statement and "UPDATE billing_transaction" in statement
    else:  # without arrays: the meters read, moved, then the samples inserted
        read, move, insert = statements
        assert read.startswith("SELECT") and 'UPDATE "billing_transaction"' in move  # (executemany)
        assert insert.startswith('INSERT INTO "billing_metervalue"')
    assert MeterValue.objects.filter(transaction_id=tx_id).count() == 3
    tx = Transaction.objects.get(pk=tx_id)
    assert (tx.last_meter_wh, tx.last_meter_at) == (3000, minutes(3))


def test_an_older_sample_does_not_move_the_live_bill_back(station, tag):
    tx_id = start(station, meter_start=0).transaction_id
    meter(station, tx_id, (minutes(10), "5000"))
    meter(station, tx_id, (minutes(5), "2000"))
    assert Session.objects.get(transaction_id=tx_id).energy_kwh == Decimal("5.000")


def test_a_flood_of_samples_prices_the_live_session_at_most_every_live_session_seconds(
    station, tag, settings
):
    tx_id, kept = first_sample_priced(station, settings)
    # The next sample comes (in wall-clock time) well within 60 s of that commit.
    flood = meter(station, tx_id, (minutes(1.5), "3000"), batch=Batch(kept=kept))
    session = Session.objects.get(transaction_id=tx_id)
    # 1 kWh * 1.00: the first sample is priced with its commit, the second not yet...
    assert (session.energy_kwh, session.cost) == (Decimal("1.000"), Decimal("1.00"))
    # ...though it is stored and moves the transaction's meter at once.
    tx = Transaction.objects.get(pk=tx_id)
    assert (tx.last_meter_wh, tx.last_meter_at) == (3000, minutes(1.5))
    # The writer runs the refresh 60 s after the first pricing, gathered with
    # any others coming due up to a quarter of that later: 3 kWh * 1.00.
    [(delay, refresh)] = flood.later
    assert 60 < delay <= 75
    early = Batch(kept=kept)  # a refresh run before then (asked for by another session)
    refresh(early)
    early.flush()
    assert Session.objects.get(transaction_id=tx_id).cost == Decimal("1.00")  # not yet
    assert [d for d, _ in early.later] == [pytest.approx(delay, abs=1)]
    kept[transactions.LiveClock].refreshed[tx_id] -= delay  # that long later
    later = Batch(kept=kept)
    refresh(later)
    later.flush()
    session.refresh_from_db()
    assert (session.energy_kwh, session.cost) == (Decimal("3.000"), Decimal("3.00"))


@pytest.mark.django_db(transaction=True)  # the writer's on_commit work runs
def test_a_commit_prices_at_most_refresh_per_commit_sessions_and_the_rest_soon_after(
    station, tag, settings, monkeypatch
):
    settings.OCPP = {"LIVE_SESSION_SECONDS": 60}
    monkeypatch.setattr(transactions, "REFRESH_PER_COMMIT", 2)
    make_tariff(price_per_kwh="1.00")
    tx_ids = [start(station, connector_id=c, meter_start=0).transaction_id for c in range(1, 6)]
    kept = {}
    batch = meter_each(station, tx_ids, minutes(1), "1000", Batch(kept=kept))

    def priced() -> int:
        return Session.objects.filter(transaction_id__in=tx_ids, energy_kwh=Decimal("1.000")).count()

    assert priced() == 2  # all five were due: two now...
    for expected in (4, 5):  # ...the others two at a time, in commits soon after
        [(delay, rest)] = batch.later
        assert delay < 1  # not LIVE_SESSION_SECONDS later
        batch = Batch(kept=kept)
        rest(batch)
        batch.flush()
        assert priced() == expected
    assert batch.later == []  # nothing left over


def test_a_session_come_due_is_priced_a_little_later_with_the_others(station, tag, settings):
    settings.OCPP = {"LIVE_SESSION_SECONDS": 60}
    make_tariff(price_per_kwh="1.00")
    tx_ids = [start(station, connector_id=c, meter_start=0).transaction_id for c in (1, 2)]
    kept = {}
    meter_each(station, tx_ids, minutes(1), "1000", Batch(kept=kept))  # first samples: priced at once
    # The first was priced 50 s ago (due in 10 s), the second 70 s ago (due).
    clock = kept[transactions.LiveClock]
    clock.refreshed[tx_ids[0]] -= 50
    clock.refreshed[tx_ids[1]] -= 70
    batch = meter_each(station, tx_ids, minutes(2), "2000", Batch(kept=kept))
    # Neither with this commit: the one due waits up to a quarter of 60 s
    # for others coming due, and both are priced in one later commit.
    assert Session.objects.filter(transaction_id__in=tx_ids, energy_kwh=Decimal("2.000")).count() == 0
    [(delay, refresh)] = batch.later
    assert delay == pytest.approx(15, abs=1)
    for tx_id in tx_ids:  # that long later
        clock.refreshed[tx_id] -= delay
    later = Batch(kept=kept)
    refresh(later)
    later.flush()
    assert Session.objects.filter(transaction_id__in=tx_ids, energy_kwh=Decimal("2.000")).count() == 2


def test_a_session_sampled_seldom_is_priced_with_its_commit(station, tag, settings):
    tx_id, kept = first_sample_priced(station, settings)
    kept[transactions.LiveClock].refreshed[tx_id] -= 121  # priced over twice 60 s ago
    second = meter(station, tx_id, (minutes(3), "2500"), batch=Batch(kept=kept))
    assert second.later == []
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.energy_kwh, session.cost) == (Decimal("2.500"), Decimal("2.50"))


def test_a_refresh_before_a_session_is_due_leaves_it_for_later(station, tag, settings):
    tx_id, kept = first_sample_priced(station, settings)
    meter(station, tx_id, (minutes(2), "2000"), batch=Batch(kept=kept))  # deferred
    # A refresh another session asked for runs 50 s after this one's pricing:
    # within the gathering share, but not yet due: not priced more often.
    kept[transactions.LiveClock].refreshed[tx_id] -= 50
    early = Batch(kept=kept)
    transactions._live_deferred_refresh(early)
    early.flush()
    assert Session.objects.get(transaction_id=tx_id).cost == Decimal("1.00")
    assert [d for d, _ in early.later] == [pytest.approx(10 + 15, abs=1)]


def test_an_absurd_meter_register_flags_the_session_and_fails_no_commit(station, tag):
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id
    meter(station, tx_id, (minutes(1), "1000"))
    meter(station, tx_id, (minutes(2), "999999999999999999"))  # ~10^15 kWh: more than the column holds
    session = Session.objects.get(transaction_id=tx_id)
    assert "Cannot be priced" in session.pricing_error
    assert (session.energy_kwh, session.cost) == (Decimal("1.000"), Decimal("1.00"))  # the last good ones
    assert Transaction.objects.get(pk=tx_id).last_meter_wh == 999999999999999999  # stored as it came


def test_samples_live_session_seconds_apart_are_each_priced_with_their_commit(station, tag, settings):
    tx_id, kept = first_sample_priced(station, settings, every=0)
    second = meter(station, tx_id, (minutes(2), "2500"), batch=Batch(kept=kept))
    assert second.later == []
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.energy_kwh, session.cost) == (Decimal("2.500"), Decimal("2.50"))


@pytest.mark.django_db(transaction=True)
def test_a_deferred_session_is_priced_though_its_refresh_shared_a_failing_commit(station, tag, settings):
    settings.OCPP = {"LIVE_SESSION_SECONDS": 60}
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id

    def sample(ts, value):
        return sample_unit(station, tx_id, ts, value)

    def bad_frame(batch):
        raise RuntimeError("another station's bad frame")

    async def live_cost():
        return (await Session.objects.aget(transaction_id=tx_id)).cost

    async def run():
        writer = GroupCommitter()
        try:
            await writer.run(sample(minutes(1), "1000"))
            await writer.run(sample(minutes(1.5), "3000"))  # within 60 s: deferred
            assert await live_cost() == Decimal("1.00")
            writer._kept[transactions.LiveClock].refreshed[tx_id] -= 60  # a minute later
            # The deferred refresh's commit fails; the writer retries unit by unit.
            outcomes = await asyncio.gather(
                writer.run(transactions._live_deferred_refresh), writer.run(bad_frame), return_exceptions=True
            )
            assert isinstance(outcomes[1], RuntimeError)
            return await live_cost()
        finally:
            await writer.close()

    assert async_to_sync(run)() == Decimal("3.00")


@pytest.mark.django_db(transaction=True)
def test_samples_of_a_session_priced_lately_move_its_meter_in_the_commits_one_query(station, tag, settings):
    """Most MeterValues commits price nothing (their sessions were priced
    within LIVE_SESSION_SECONDS): on PostgreSQL the samples, the meter and
    BEGIN/COMMIT are one round trip; the session is priced by the deferred
    refresh."""

    from tests.postgres import last_query

    settings.OCPP = {"LIVE_SESSION_SECONDS": 0.2}
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id

    def sample(ts, value):
        record = sample_unit(station, tx_id, ts, value)

        def unit(batch):
            record(batch)
            return connection.connection.info.backend_pid if connection.vendor == "postgresql" else None

        return unit

    async def run():
        writer = GroupCommitter()
        try:
            await writer.run(sample(minutes(1), "1000"))  # priced with its commit: the first sample
            pid = await writer.run(sample(minutes(2), "2500"))  # deferred
            query = await sync_to_async(last_query)(pid) if pid else None
            tx = await Transaction.objects.aget(pk=tx_id)
            moved = (tx.last_meter_wh, tx.last_meter_at)
            cost_before = (await Session.objects.aget(transaction_id=tx_id)).cost
            await asyncio.sleep(0.5)  # the deferred refresh: 0.2 s + a gathering share
            await writer.drain()
            cost_after = (await Session.objects.aget(transaction_id=tx_id)).cost
            return query, moved, cost_before, cost_after
        finally:
            await writer.close()

    query, moved, cost_before, cost_after = async_to_sync(run)()
    assert moved == (2500, minutes(2))
    assert MeterValue.objects.filter(transaction_id=tx_id).count() == 2
    assert (cost_before, cost_after) == (Decimal("1.00"), Decimal("2.50"))
    if connection.vendor == "postgresql":
        # The last query the writer sent (PostgreSQL keeps its first 1 KiB):
        # its BEGIN went with the meter statement, and nothing followed it.
        assert query.startswith("BEGIN; \nUPDATE billing_transaction"), query[:80]


def _samples_record(station, tx_id: int, *samples: dict) -> None:
    """`samples` (sampledValue entries) at minute 5, committed as one writer batch."""
    batch = Batch()
    transactions.meter_values_record(
        batch=batch,
        station_pk=station.pk,
        connector_id=1,
        transaction_id=tx_id,
        meter_values=[{"timestamp": minutes(5), "sampledValue": list(samples)}],
    )
    batch.flush()


def test_kwh_samples_are_read_as_kwh(station, tag):
    tx_id = start(station, meter_start=0).transaction_id
    _samples_record(station, tx_id, {"value": "1.25", "unit": "kWh"})
    assert Session.objects.get(transaction_id=tx_id).energy_kwh == Decimal("1.250")


@pytest.mark.parametrize(
    ("value", "unit"),
    [("1e999999", "Wh"), ("1e999999", "kWh"), ("9223372036854775808", "Wh"), ("1e30", "kvarh")],
)
def test_an_energy_sample_beyond_any_meter_is_stored_as_sent_and_moves_nothing(station, tag, value, unit):
    tx_id = start(station, meter_start=1000).transaction_id
    measurand = "Energy.Reactive.Import.Register" if unit == "kvarh" else "Energy.Active.Import.Register"
    _samples_record(station, tx_id, {"value": value, "unit": unit, "measurand": measurand})
    assert MeterValue.objects.filter(transaction_id=tx_id).values_list("value", "unit").get() == (value, unit)
    assert Transaction.objects.values_list("last_meter_wh", flat=True).get(pk=tx_id) == 1000


def test_energy_limit_sends_exactly_one_remote_stop(station, tag):
    session = waiting_session(station, tag, limit_kwh=Decimal("2"))
    tx_id = start(station, meter_start=0).transaction_id
    assert meter(station, tx_id, (minutes(5), "1500")).after == []
    crossing = meter(station, tx_id, (minutes(10), "2000"))
    assert limit_stops(crossing) == [(station.pk, tx_id)]
    later = meter(station, tx_id, (minutes(11), "2100"), (minutes(12), "2300"))
    assert later.after == []
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPING
    assert session.limit_stop_sent_at == minutes(10)
    assert session.energy_kwh == Decimal("2.300")


def test_cost_limit_sends_a_remote_stop(station, tag):
    tariff = make_tariff(price_per_kwh="0.50")
    session = waiting_session(
        station,
        tag,
        tariff=tariff,
        tariff_snapshot=tariffs.tariff_snapshot(tariff),
        limit_amount=Decimal("2.00"),
    )
    tx_id = start(station, meter_start=0).transaction_id
    # 4 kWh * 0.50 = 2.00: the limit is reached
    assert limit_stops(meter(station, tx_id, (minutes(5), "4000"))) == [(station.pk, tx_id)]
    session.refresh_from_db()
    assert (session.cost, session.status) == (Decimal("2.00"), SessionStatus.STOPPING)


def test_cost_limit_not_reached_sends_nothing(station, tag):
    tariff = make_tariff(price_per_kwh="0.50")
    waiting_session(
        station,
        tag,
        tariff=tariff,
        tariff_snapshot=tariffs.tariff_snapshot(tariff),
        limit_amount=Decimal("2.00"),
    )
    tx_id = start(station, meter_start=0).transaction_id
    # 3.9 kWh * 0.50 = 1.95 < 2.00
    assert meter(station, tx_id, (minutes(5), "3900")).after == []


def test_live_update_does_not_undo_a_requested_stop(station, tag):
    session = waiting_session(station, tag)
    tx_id = start(station, meter_start=0).transaction_id
    batch = Batch()
    record_sample(batch, station, tx_id, minutes(5), "700")
    # The API marks the session stopping between the sample and the commit.
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.STOPPING)
    batch.flush()
    session.refresh_from_db()
    assert (session.status, session.energy_kwh) == (SessionStatus.STOPPING, Decimal("0.700"))


def test_another_stations_meter_values_do_not_move_the_bill(station, tag):
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id
    intruder = StationFactory()
    meter(intruder, tx_id, (minutes(5), "50000"))
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.energy_kwh, session.cost) == (Decimal("0"), Decimal("0.00"))
    stop(station, tx_id, 1000, minutes(10))
    session.refresh_from_db()
    assert session.cost == Decimal("1.00")


# Final bill -------------------------------------------------------------------


def test_final_bill_uses_meter_stop_not_the_last_sample(station, tag):
    make_tariff(price_per_kwh="0.30", price_per_minute="0.10", session_fee="0.50")
    session = waiting_session(station, tag)
    tx_id = start(station, meter_start=1000).transaction_id
    meter(station, tx_id, (minutes(20), "6000"))
    stop(station, tx_id, 11000, minutes(30))
    session.refresh_from_db()
    # 10 kWh * 0.30 = 3.00; 30 min * 0.10 = 3.00; fee 0.50 -> 6.50
    assert session.status == SessionStatus.COMPLETED
    assert session.energy_kwh == Decimal("10.000")
    assert session.cost == Decimal("6.50")
    assert (session.stopped_at, session.stop_reason) == (minutes(30), "Remote")


def test_final_bill_prices_each_period_by_the_stored_samples(station, tag):
    # 10:00-10:30 at 0.20/kWh, then 0.40/kWh from 10:30 (a period every day).
    period = {
        "days": [1, 2, 3, 4, 5, 6, 7],
        "start": "10:30",
        "end": "12:00",
        "price_per_kwh": "0.40",
        "price_per_minute": "0",
        "idle_fee_per_minute": "0",
    }
    make_tariff(price_per_kwh="0.20", periods=[period])
    tx_id = start(station, meter_start=0).transaction_id
    meter(station, tx_id, (minutes(30), "8000"))
    stop(station, tx_id, 10000, minutes(60))
    # 8 kWh * 0.20 = 1.60 before 10:30; 2 kWh * 0.40 = 0.80 after -> 2.40
    assert Session.objects.get(transaction_id=tx_id).cost == Decimal("2.40")


# Free before 10:30 (the tariff's own price 0), 1.00/kWh from 10:30 to 11:00 on T0's weekday.
FROM_1030_AT_1 = {
    "days": [3],
    "start": "10:30",
    "end": "11:00",
    "price_per_kwh": "1.00",
    "price_per_minute": "0",
    "idle_fee_per_minute": "0",
}


def test_transaction_data_samples_count_in_the_final_bill(station, tag):
    make_tariff(price_per_kwh="0", periods=[FROM_1030_AT_1])
    tx_id = start(station, meter_start=0).transaction_id
    data = [{"timestamp": format_time(minutes(30)), "sampledValue": [{"value": "4.0", "unit": "kWh"}]}]
    stop(station, tx_id, 5000, minutes(60), transaction_data=data)
    # 4 kWh before 10:30 free; 1 kWh after at 1.00 -> 1.00
    assert Session.objects.get(transaction_id=tx_id).cost == Decimal("1.00")
    assert MeterValue.objects.filter(transaction_id=tx_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_meter_values_committed_with_the_stop_count_in_the_final_bill(station, tag):
    # Free until 10:30, 1.00/kWh from 10:30 to 11:00; the 10:30 sample comes in a
    # MeterValues frame whose commit is the StopTransaction's.
    make_tariff(price_per_kwh="0", periods=[FROM_1030_AT_1])
    tx_id = start(station, meter_start=0).transaction_id

    record = sample_unit(station, tx_id, minutes(30), "4000")

    def sample(batch):
        record(batch)
        return batch

    def stop_frame(batch):
        transactions.transaction_stop(
            batch=batch,
            station_pk=station.pk,
            transaction_id=tx_id,
            id_tag=None,
            meter_stop=5000,
            timestamp=minutes(60),
            reason="Remote",
            transaction_data=None,
            payload={},
            now=minutes(60),
        )
        return batch

    async def run():
        writer = GroupCommitter()
        try:
            return await asyncio.gather(writer.run(sample), writer.run(stop_frame))
        finally:
            await writer.close()

    sampled_in, stopped_in = async_to_sync(run)()
    assert sampled_in is stopped_in  # one commit
    # 4 kWh before 10:30 free; 1 kWh after at 1.00 -> 1.00 (not the 2.5 kWh a
    # straight line from meterStart to meterStop puts after 10:30)
    assert Session.objects.get(transaction_id=tx_id).cost == Decimal("1.00")
    assert MeterValue.objects.filter(transaction_id=tx_id).count() == 1


def test_transaction_no_tariff_prices_costs_zero_with_tariff_null(station, tag):
    tx_id = start(station, meter_start=0).transaction_id
    meter(station, tx_id, (minutes(5), "3000"))
    stop(station, tx_id, 4000, minutes(10))
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.status, session.tariff_snapshot, session.cost) == ("completed", None, Decimal("0"))
    assert session.energy_kwh == Decimal("4.000")


def test_closing_an_abandoned_transaction_bills_its_last_sample(station, tag):
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id
    meter(station, tx_id, (minutes(15), "2500"))
    transactions.transaction_close(
        transaction=Transaction.objects.get(pk=tx_id), reason="Lost", now=minutes(90)
    )
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.status, session.cost, session.stopped_at) == ("completed", Decimal("2.50"), minutes(15))
    assert session.stop_reason == "Lost"


def test_a_new_transaction_on_the_connector_closes_the_stale_one(station, tag):
    first = start(station, meter_start=0).transaction_id
    meter(station, first, (minutes(5), "900"))
    start(station, meter_start=900, at=minutes(30))
    old = Session.objects.get(transaction_id=first)
    assert (old.status, old.stop_reason, old.energy_kwh) == ("completed", "Superseded", Decimal("0.900"))


# Starts that never happen ---------------------------------------------------------


def test_stale_starting_sessions_fail_with_no_start(station, tag):
    stale = waiting_session(station, tag)
    fresh = waiting_session(station, tag)
    Session.objects.filter(pk=fresh.pk).update(remote_start_at=T0 + timedelta(seconds=100))
    created = waiting_session(station, tag, status=SessionStatus.CREATED)
    now = T0 + timedelta(seconds=START_TIMEOUT_SECONDS + 1)
    assert sessions_fail_stale(now=now) == 1
    stale.refresh_from_db()
    assert (stale.status, stale.stop_reason, stale.stopped_at) == (SessionStatus.FAILED, "NoStart", now)
    for other, status in ((fresh, SessionStatus.STARTING), (created, SessionStatus.CREATED)):
        other.refresh_from_db()
        assert other.status == status


def test_a_started_session_is_not_failed_as_stale(station, tag):
    session = waiting_session(station, tag)
    start(station)
    assert sessions_fail_stale(now=T0 + timedelta(hours=1)) == 0
    session.refresh_from_db()
    assert session.status == SessionStatus.CHARGING


def test_station_reboot_keeps_waiting_sessions(station, tag):
    session = waiting_session(station, tag)
    batch = Batch()
    station_boot(
        batch=batch,
        station_pk=station.pk,
        info={"chargePointVendor": "V", "chargePointModel": "M"},
        now=minutes(1),
    )
    batch.flush()
    session.refresh_from_db()
    assert session.status == SessionStatus.STARTING
    start(station, at=minutes(2))
    session.refresh_from_db()
    assert session.status == SessionStatus.CHARGING


def test_blocked_tag_start_is_recorded_and_billed_anyway(station, tag):
    tag.status = IdTagStatus.BLOCKED
    tag.save()
    result = start(station)
    assert result.id_tag_info["status"] == "Blocked"
    assert Session.objects.get(transaction_id=result.transaction_id).status == SessionStatus.CHARGING


# A limit stop that does not go through ------------------------------------------


def run_after_commit(work) -> None:
    """Run a commit's after-commit `work` as the writer's event loop does."""

    async def run():
        try:
            await work()
        finally:
            await runtime.committer().close()

    async_to_sync(run)()


def door(monkeypatch, *, answer=None, failure=None) -> list:
    """Stand in for `commands.command_send` (the station held by another
    process, say); the (pk, station id, action, payload) sent."""
    sent = []

    async def command_send(*, station, action, payload, timeout=None):
        sent.append((station.pk, station.station_id, action, payload))
        if failure is not None:
            raise commands.CommandFailed(failure)
        return answer

    monkeypatch.setattr(commands, "command_send", command_send)
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_limit_stop_goes_through_the_door_to_whichever_process_holds_the_station(station, tag, monkeypatch):
    session = waiting_session(station, tag, limit_kwh=Decimal("2"))
    tx_id = start(station, meter_start=0).transaction_id
    sent = door(monkeypatch, answer={"status": "Accepted"})
    [stop] = meter(station, tx_id, (minutes(10), "2000")).after
    run_after_commit(stop)
    assert sent == [(station.pk, "CP-BILL", "RemoteStopTransaction", {"transactionId": tx_id})]
    session.refresh_from_db()
    assert (session.status, session.limit_stop_sent_at) == (SessionStatus.STOPPING, minutes(10))


@pytest.mark.django_db(transaction=True)
def test_a_limit_stop_to_a_station_connected_nowhere_is_sent_again_with_the_next_sample(station, tag):
    # The real door: no process holds the station (none here, none in Redis).
    session = waiting_session(station, tag, limit_kwh=Decimal("2"))
    tx_id = start(station, meter_start=0).transaction_id
    [stop] = meter(station, tx_id, (minutes(10), "2000")).after
    run_after_commit(stop)
    session.refresh_from_db()
    assert (session.status, session.limit_stop_sent_at) == (SessionStatus.CHARGING, None)
    assert limit_stops(meter(station, tx_id, (minutes(11), "2100"))) == [(station.pk, tx_id)]
    session.refresh_from_db()
    assert (session.status, session.limit_stop_sent_at) == (SessionStatus.STOPPING, minutes(11))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failure", "answer"),
    [
        (commands.TIMEOUT, None),
        (commands.DISCONNECTED, None),
        (commands.STATION_ERROR, None),
        (None, {"status": "Rejected"}),
    ],
)
def test_a_limit_stop_that_fails_releases_its_claim(station, tag, monkeypatch, failure, answer):
    session = waiting_session(station, tag, limit_kwh=Decimal("2"))
    tx_id = start(station, meter_start=0).transaction_id
    sent = door(monkeypatch, failure=failure, answer=answer)
    [stop] = meter(station, tx_id, (minutes(10), "2000")).after
    run_after_commit(stop)
    assert len(sent) == 1
    session.refresh_from_db()
    assert (session.status, session.limit_stop_sent_at) == (SessionStatus.CHARGING, None)
    assert limit_stops(meter(station, tx_id, (minutes(11), "2100"))) == [(station.pk, tx_id)]


@pytest.mark.django_db(transaction=True)
def test_a_failed_limit_stop_leaves_a_stop_requested_meanwhile_stopping(station, tag, monkeypatch):
    session = waiting_session(station, tag, limit_kwh=Decimal("2"))
    tx_id = start(station, meter_start=0).transaction_id
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.STOPPING)  # by the API
    door(monkeypatch, failure=commands.TIMEOUT)
    [stop] = meter(station, tx_id, (minutes(10), "2000")).after
    run_after_commit(stop)
    session.refresh_from_db()
    assert (session.status, session.limit_stop_sent_at) == (SessionStatus.STOPPING, None)


def sample_committed_while_held(write, station, tx_id) -> None:
    """Run `write()` in a transaction held open on another thread (its row
    locks held), and commit a meter sample of `station` through the writer
    meanwhile: within 5 s, or the test fails."""
    import threading

    from django.db import connections as db_connections
    from django.db import transaction as db_transaction

    locked, release = threading.Event(), threading.Event()

    def held_open():
        try:
            with db_transaction.atomic():
                write()
                locked.set()
                release.wait(10)
        finally:
            db_connections.close_all()  # this thread's own connection

    holder = threading.Thread(target=held_open)
    holder.start()
    try:
        assert locked.wait(10)

        async def run():
            writer = GroupCommitter()
            try:
                await asyncio.wait_for(writer.run(sample_unit(station, tx_id, minutes(1), "1000")), 5)
            finally:
                await writer.close()

        async_to_sync(run)()
    finally:
        release.set()
        holder.join(10)
    assert MeterValue.objects.filter(transaction_id=tx_id).count() == 1


@pytest.mark.skipif("__import__('django.db').db.connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_a_configuration_answer_being_written_does_not_hold_up_its_stations_samples(station, tag):
    """The configuration write locks its station rows; a meter sample, whose
    row only references the station, is committed meanwhile (FOR UPDATE
    stopped it, and a commit of several stations' samples could deadlock)."""
    from stations.commands_state import Configurations, _get_configuration

    tx_id = start(station, meter_start=0).transaction_id
    answer = Configurations()
    answer.changes.append(
        (
            station.pk,
            _get_configuration(
                request={}, response={"configurationKey": [{"key": "HeartbeatInterval", "value": "60"}]}
            ),
        )
    )
    sample_committed_while_held(lambda: answer.flush(batch=None), station, tx_id)


@pytest.mark.skipif("__import__('django.db').db.connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_a_stop_being_written_does_not_hold_up_its_stations_other_samples(station, tag):
    """StopTransaction locks its transaction and that transaction's station
    row; a sample of the station's other transaction (connector 2) is
    committed meanwhile."""
    stopping = start(station, meter_start=0).transaction_id
    other = start(station, meter_start=0, connector_id=2).transaction_id
    sample_committed_while_held(lambda: stop(station, stopping, 500, minutes(2)), station, other)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_sample_due_at_once_on_the_loop_is_priced_before_its_answer_and_holds_up_no_other(
    station, tag, settings, monkeypatch
):
    """On PostgreSQL the event loop commits MeterValues. A session's first
    sample is priced with it, which the loop cannot do: the loop commits the
    samples, the writer thread prices that session right after, and only
    that frame waits for it. (Sent whole to the thread, one such session
    among a commit's stations held up the others: at 2,000 stations nearly
    every commit.)"""
    import threading

    from ocpp_gateway import metrics
    from ocpp_gateway.writer import gathering

    settings.OCPP = {"LIVE_SESSION_SECONDS": 60}
    make_tariff(price_per_kwh="1.00")
    first, second = (start(station, connector_id=c, meter_start=0).transaction_id for c in (1, 2))
    pricing, priced_on = threading.Event(), []
    refresh = transactions._sessions_live_refresh

    def held_refresh(batch, tx_ids):
        priced_on.append(threading.current_thread().name)
        pricing.wait(5)
        refresh(batch, tx_ids)

    def sample(tx_id, connector_id, at, value):
        return gathering(sample_unit(station, tx_id, at, value, connector_id))

    async def cost(tx_id):
        return (await Session.objects.aget(transaction_id=tx_id)).cost

    def fallbacks():
        return metrics.writer_loop_fallbacks.labels("gather")._value.get()

    async def run():
        writer = GroupCommitter()
        try:
            await writer.run(sample(first, 1, minutes(1), "1000"))
            assert await cost(first) == Decimal("1.00")  # priced before its answer
            monkeypatch.setattr(transactions, "_sessions_live_refresh", held_refresh)
            before = fallbacks()
            # One commit: the first session's next sample (priced lately:
            # deferred) and the second session's first (priced at once).
            deferred = asyncio.ensure_future(writer.run(sample(first, 1, minutes(2), "2000")))
            due = asyncio.ensure_future(writer.run(sample(second, 2, minutes(2), "3000")))
            try:
                await asyncio.wait_for(deferred, 5)  # answered without waiting for the pricing
                for _ in range(500):
                    if priced_on:
                        break
                    await asyncio.sleep(0.01)
                assert priced_on[-1].startswith("ocpp-db")
                await asyncio.sleep(0.05)
                assert not due.done()  # until it is priced
                stored = await MeterValue.objects.filter(transaction_id=second).acount()
            finally:
                pricing.set()
            await asyncio.wait_for(due, 5)
            return before, stored, await cost(first), await cost(second)
        finally:
            await writer.close()

    before, stored, first_cost, second_cost = async_to_sync(run)()
    assert stored == 1  # committed by the loop before it was priced
    assert (first_cost, second_cost) == (Decimal("1.00"), Decimal("3.00"))  # the first's is deferred
    assert metrics.writer_loop_fallbacks.labels("gather")._value.get() == before  # none went to the thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_session_left_to_the_thread_counts_as_priced_only_once_its_commit_is_done(
    station, tag, settings, monkeypatch
):
    """If the thread's pricing of a loop commit's session fails, the session
    is still due: its next sample is priced at once, not deferred as if it
    had been priced."""
    from ocpp_gateway.writer import gathering

    settings.OCPP = {"LIVE_SESSION_SECONDS": 60}
    make_tariff(price_per_kwh="1.00")
    tx_id = start(station, meter_start=0).transaction_id

    def failing_refresh(batch, tx_ids):
        raise RuntimeError("PostgreSQL statement timeout")

    def sample(at, value):
        return gathering(sample_unit(station, tx_id, at, value))

    async def run():
        writer = GroupCommitter()
        try:
            monkeypatch.setattr(transactions, "_sessions_live_refresh", failing_refresh)
            await writer.run(sample(minutes(1), "1000"))  # stored; its pricing failed
            priced = tx_id in writer._kept[transactions.LiveClock].refreshed
            monkeypatch.undo()
            await writer.run(sample(minutes(2), "2000"))  # still due: priced at once
            return priced, (await Session.objects.aget(transaction_id=tx_id)).cost
        finally:
            await writer.close()

    priced, cost = async_to_sync(run)()
    assert not priced
    assert cost == Decimal("2.00")
