"""Pricing that fails never fails charging: the session is flagged with
`pricing_error`, keeps counting energy, and is priced when its tariff is fixed."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import sessions, tariffs, transactions
from billing.models import Session, SessionStatus, Tariff
from evpower.errors import Invalid
from ocpp_gateway.writer import Batch
from stations.models import Station
from tests.factories import IdTagFactory, StationFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def station():
    return StationFactory(station_id="CP-FLAG", time_zone="UTC")


@pytest.fixture
def tag():
    return IdTagFactory(id_tag="TAG-FLAG", owner=UserFactory())


def legacy_tariff(**fields) -> Tariff:
    """A tariff stored before tariffs were validated."""
    return Tariff.objects.create(**{"name": "Legacy", "currency": "XYZ", "price_per_kwh": "0.30", **fields})


def start(station, meter_start=1000) -> int:
    return transactions.transaction_start(
        station_pk=station.pk,
        connector_id=1,
        id_tag="TAG-FLAG",
        meter_start=meter_start,
        timestamp=T0,
        reservation_id=None,
        now=T0,
    ).transaction_id


def meter(station, tx_id, at, wh) -> None:
    batch = Batch()
    transactions.meter_values_record(
        batch=batch,
        station_pk=station.pk,
        connector_id=1,
        transaction_id=tx_id,
        meter_values=[{"timestamp": at, "sampledValue": [{"value": str(wh)}]}],
    )
    batch.flush()


def stop(station, tx_id, meter_stop, at) -> None:
    batch = Batch()
    transactions.transaction_stop(
        batch=batch,
        station_pk=station.pk,
        transaction_id=tx_id,
        id_tag=None,
        meter_stop=meter_stop,
        timestamp=at,
        reason="Local",
        transaction_data=None,
        payload={},
        now=at,
    )
    batch.flush()


def fix(tariff: Tariff, **data) -> None:
    """What PATCH /ocpp/tariffs/{id} and the admin do."""
    tariffs.tariff_update(tariff=tariff, data={"currency": "EUR", "periods": [], **data})
    sessions.sessions_reprice(tariff=tariff)


def test_a_bad_tariff_flags_the_session_and_the_transaction_is_accepted(station, tag):
    tariff = legacy_tariff(periods=[{"foo": 1}])
    tx_id = start(station)
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.status, session.tariff, session.tariff_snapshot) == (SessionStatus.CHARGING, tariff, None)
    assert "unknown currency 'XYZ'" in session.pricing_error
    assert f"Tariff {tariff.pk} (Legacy)" in session.pricing_error


def test_a_flagged_session_counts_energy_and_completes_at_zero_cost(station, tag):
    legacy_tariff()
    tx_id = start(station)
    meter(station, tx_id, minutes(10), 4000)
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.energy_kwh, session.cost) == (Decimal("3.000"), Decimal("0"))
    stop(station, tx_id, 6000, minutes(20))
    session.refresh_from_db()
    assert (session.status, session.energy_kwh, session.cost) == (SessionStatus.COMPLETED, Decimal("5"), 0)
    assert "XYZ" in session.pricing_error


def test_fixing_the_tariff_bills_a_completed_session_from_its_stored_readings(station, tag):
    tariff = legacy_tariff(price_per_minute="0.10")
    tx_id = start(station)
    meter(station, tx_id, minutes(10), 4000)
    stop(station, tx_id, 6000, minutes(20))
    fix(tariff)
    session = Session.objects.get(transaction_id=tx_id)
    # 5 kWh * 0.30 = 1.50; 20 min * 0.10 = 2.00 -> 3.50
    assert (session.cost, session.currency, session.pricing_error) == (Decimal("3.50"), "EUR", "")
    assert session.tariff_snapshot["tariff_id"] == tariff.pk
    assert session.status == SessionStatus.COMPLETED


def test_fixing_the_tariff_prices_a_running_session_and_live_pricing_goes_on(station, tag):
    tariff = legacy_tariff()
    tx_id = start(station)
    meter(station, tx_id, minutes(10), 4000)
    fix(tariff)
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.status, session.cost, session.pricing_error) == (
        SessionStatus.CHARGING,
        Decimal("0.90"),
        "",
    )
    meter(station, tx_id, minutes(20), 5000)
    assert Session.objects.get(transaction_id=tx_id).cost == Decimal("1.20")


def test_a_tariff_still_bad_prices_nothing(station, tag):
    tariff = legacy_tariff()
    tx_id = start(station)
    assert sessions.sessions_reprice(tariff=tariff) == 0
    assert "XYZ" in Session.objects.get(transaction_id=tx_id).pricing_error


def test_failing_live_pricing_keeps_the_last_good_cost_until_it_prices_again(station, tag):
    Tariff.objects.create(name="Good", currency="EUR", price_per_kwh="0.30")
    tx_id = start(station)
    meter(station, tx_id, minutes(10), 4000)
    # A station time zone no one can read (stored before it was validated, say).
    Station.objects.filter(pk=station.pk).update(time_zone="Mars/Olympus")
    meter(station, tx_id, minutes(20), 6000)
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.energy_kwh, session.cost) == (Decimal("5.000"), Decimal("0.90"))
    assert "unknown time zone 'Mars/Olympus'" in session.pricing_error
    Station.objects.filter(pk=station.pk).update(time_zone="UTC")
    meter(station, tx_id, minutes(30), 7000)
    session.refresh_from_db()
    assert (session.cost, session.pricing_error) == (Decimal("1.80"), "")


def test_a_session_with_a_snapshot_keeps_its_prices_when_repriced(station, tag):
    tariff = Tariff.objects.create(name="Good", currency="EUR", price_per_kwh="0.30")
    tx_id = start(station)
    Station.objects.filter(pk=station.pk).update(time_zone="Mars/Olympus")
    stop(station, tx_id, 6000, minutes(20))
    assert Session.objects.get(transaction_id=tx_id).pricing_error
    Station.objects.filter(pk=station.pk).update(time_zone="UTC")
    tariffs.tariff_update(tariff=tariff, data={"price_per_kwh": "0.50"})
    assert sessions.sessions_reprice(tariff=tariff) == 1
    session = Session.objects.get(transaction_id=tx_id)
    # Its own snapshot: 5 kWh * 0.30, not the new 0.50.
    assert (session.cost, session.pricing_error) == (Decimal("1.50"), "")


def test_a_live_update_leaves_a_flagged_sessions_cost_alone(station, tag):
    """A live write must not zero a cost it did not compute (say, one repriced
    meanwhile): for a flagged session it writes energy only."""
    legacy_tariff()
    tx_id = start(station)
    Session.objects.filter(transaction_id=tx_id).update(cost=Decimal("9.99"), currency="EUR")
    meter(station, tx_id, minutes(10), 4000)
    session = Session.objects.get(transaction_id=tx_id)
    assert (session.energy_kwh, session.cost, session.currency) == (Decimal("3.000"), Decimal("9.99"), "EUR")
    assert "XYZ" in session.pricing_error


def test_an_api_session_on_a_bad_tariff_is_created_flagged_and_priced_once_fixed(station, tag):
    tariff = legacy_tariff()
    session = sessions.session_create(
        actor=tag.owner, station_id=station.station_id, connector_id=1, id_tag=tag.id_tag, now=T0
    )
    assert (session.tariff, session.tariff_snapshot) == (tariff, None)
    assert "XYZ" in session.pricing_error
    fix(tariff)
    session.refresh_from_db()
    assert (session.tariff_snapshot["currency"], session.pricing_error) == ("EUR", "")


def test_a_legacy_tariff_cannot_be_changed_without_being_fixed(station):
    tariff = legacy_tariff()
    with pytest.raises(Invalid) as raised:
        tariffs.tariff_update(tariff=tariff, data={"name": "Renamed"})
    assert "currency" in raised.value.fields
    tariff.refresh_from_db()
    assert tariff.name == "Legacy"
