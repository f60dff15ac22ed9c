from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import MeterValue, Session, SessionStatus, Tariff, Transaction
from billing.tariffs import tariff_snapshot
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TX_FIELDS = {
    "transaction_id",
    "station_id",
    "connector_id",
    "id_tag",
    "meter_start",
    "meter_stop",
    "started_at",
    "stopped_at",
    "stop_reason",
    "session",
}


def _tx(station, **kwargs):
    fields = {"connector_id": 1, "id_tag": "TAG1", "meter_start": 1000, "started_at": T0}
    return Transaction.objects.create(station=station, **{**fields, **kwargs})


def _closed(station, **kwargs):
    return _tx(station, meter_stop=2000, stopped_at=T0 + timedelta(hours=1), stop_reason="Local", **kwargs)


@pytest.fixture
def station():
    return StationFactory(station_id="CP:01#A+B.2")


def test_transaction_reads_are_for_operators_and_up(api, station):
    tx = _tx(station)
    expected = {"anon": 401, "client": 403, "operator": 200, "admin": 200, "superadmin": 200}
    for path in ("/ocpp/transactions", f"/ocpp/transactions/{tx.pk}"):
        assert {role: c.get(path).status_code for role, c in api.items()} == expected, path


def test_close_is_for_admins_and_up(api, station):
    codes = {}
    for role, client in api.items():
        tx = _tx(station, connector_id=len(codes) + 1)
        codes[role] = client.post(f"/ocpp/transactions/{tx.pk}/close", {}, format="json").status_code
    assert codes == {"anon": 401, "client": 403, "operator": 403, "admin": 200, "superadmin": 200}


def test_transaction_has_the_resource_shape(api, station):
    tx = _closed(station)
    session = Session.objects.create(station=station, connector_id=1, id_tag="TAG1", transaction=tx)
    (body,) = api["operator"].get("/ocpp/transactions").json()["results"]
    assert body == {
        "transaction_id": tx.pk,
        "station_id": "CP:01#A+B.2",
        "connector_id": 1,
        "id_tag": "TAG1",
        "meter_start": 1000,
        "meter_stop": 2000,
        "started_at": "2024-05-01T12:00:00Z",
        "stopped_at": "2024-05-01T13:00:00Z",
        "stop_reason": "Local",
        "session": session.pk,
    }


def test_transaction_without_session_has_null_session(api, station):
    _tx(station)
    (body,) = api["operator"].get("/ocpp/transactions").json()["results"]
    assert body["session"] is None
    assert body["meter_stop"] is None and body["stopped_at"] is None


def test_detail_has_meter_values_in_time_order(api, station):
    tx = _tx(station)
    other = _tx(station, connector_id=2)
    for minutes, value in ((10, "1500"), (5, "1200")):
        MeterValue.objects.create(
            transaction=tx,
            station=station,
            connector_id=1,
            timestamp=T0 + timedelta(minutes=minutes),
            measurand="Energy.Active.Import.Register",
            value=value,
            unit="Wh",
            context="Sample.Periodic",
            location="Outlet",
        )
    MeterValue.objects.create(
        transaction=tx,
        station=station,
        connector_id=1,
        timestamp=T0 + timedelta(minutes=5),
        measurand="Current.Import",
        value="16.0",
        unit="A",
        phase="L1",
    )
    MeterValue.objects.create(
        transaction=other, station=station, connector_id=2, timestamp=T0, measurand="Voltage", value="230"
    )
    body = api["operator"].get(f"/ocpp/transactions/{tx.pk}").json()
    assert set(body) == TX_FIELDS | {"meter_values"}
    values = body["meter_values"]
    assert [v["value"] for v in values] == ["1200", "16.0", "1500"]
    assert values[0] == {
        "timestamp": "2024-05-01T12:05:00Z",
        "measurand": "Energy.Active.Import.Register",
        "value": "1200",
        "unit": "Wh",
        "phase": "",
        "context": "Sample.Periodic",
        "location": "Outlet",
    }
    assert values[1]["phase"] == "L1"


def test_list_has_no_meter_values(api, station):
    _tx(station)
    assert set(api["operator"].get("/ocpp/transactions").json()["results"][0]) == TX_FIELDS


def test_unknown_or_absurd_transaction_id_is_404(api):
    for path in ("/ocpp/transactions/12345", "/ocpp/transactions/99999999999999999999999"):
        response = api["operator"].get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert api["admin"].post("/ocpp/transactions/99999999999999999999/close", {}).status_code == 404


def test_list_is_newest_first_and_paginated(api, station):
    ids = [_tx(station, connector_id=n).pk for n in range(1, 4)]
    body = api["operator"].get("/ocpp/transactions?page_size=2").json()
    assert body["count"] == 3
    assert [t["transaction_id"] for t in body["results"]] == [ids[2], ids[1]]
    assert body["next"]


def test_list_filters(api, station):
    other = StationFactory(station_id="CP-2")
    open_tx = _tx(station, id_tag="AbC")
    closed_tx = _closed(station, connector_id=2, id_tag="XYZ")
    elsewhere = _tx(other, id_tag="XYZ")

    def ids(query):
        response = api["operator"].get(f"/ocpp/transactions?{query}")
        assert response.status_code == 200, response.json()
        return {t["transaction_id"] for t in response.json()["results"]}

    assert ids("station_id=CP%3A01%23A%2BB.2") == {open_tx.pk, closed_tx.pk}
    assert ids("station_id=CP-2") == {elsewhere.pk}
    assert ids("id_tag=abc") == {open_tx.pk}  # tags are case-insensitive
    assert ids("open=true") == {open_tx.pk, elsewhere.pk}
    assert ids("open=false") == {closed_tx.pk}
    assert ids("open=true&id_tag=XYZ") == {elsewhere.pk}
    assert ids("station_id=nope") == set()


@pytest.mark.parametrize("value", ["maybe", "yes", "2"])
def test_bad_open_filter_is_refused(api, station, value):
    _tx(station)
    response = api["operator"].get(f"/ocpp/transactions?open={value}")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "open" in response.json()["fields"]


def test_list_query_count_is_constant(api, station, django_assert_max_num_queries):
    for n in range(1, 21):
        tx = _tx(station, connector_id=n)
        if n % 2:
            Session.objects.create(station=station, connector_id=n, id_tag="TAG1", transaction=tx)
    client = api["operator"]
    with django_assert_max_num_queries(3):  # token + count + page (station and session joined)
        results = client.get("/ocpp/transactions").json()["results"]
    assert len(results) == 20
    assert sum(r["session"] is not None for r in results) == 10


def test_detail_query_count_does_not_grow_with_meter_values(api, station, django_assert_max_num_queries):
    tx = _tx(station)
    MeterValue.objects.bulk_create(
        MeterValue(
            transaction=tx,
            station=station,
            connector_id=1,
            timestamp=T0 + timedelta(minutes=n),
            measurand="Power.Active.Import",
            value=str(n),
        )
        for n in range(50)
    )
    client = api["operator"]
    with django_assert_max_num_queries(3):  # token + transaction + meter values
        assert len(client.get(f"/ocpp/transactions/{tx.pk}").json()["meter_values"]) == 50


def test_close_bills_from_the_last_meter_sample(api, station):
    tariff = Tariff.objects.create(name="Std", currency="EUR", price_per_kwh=Decimal("0.50"))
    last = T0 + timedelta(minutes=30)
    tx = _tx(station, meter_start=1000, last_meter_wh=5000, last_meter_at=last)
    session = Session.objects.create(
        station=station,
        connector_id=1,
        id_tag="TAG1",
        transaction=tx,
        status=SessionStatus.CHARGING,
        tariff=tariff,
        tariff_snapshot=tariff_snapshot(tariff),
        currency="EUR",
        started_at=T0,
    )
    response = api["admin"].post(
        f"/ocpp/transactions/{tx.pk}/close", {"reason": "HardwareReplaced"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["meter_stop"], body["stop_reason"]) == (5000, "HardwareReplaced")
    assert body["stopped_at"] == "2024-05-01T12:30:00Z"
    assert body["session"] == session.pk
    assert "meter_values" in body
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.energy_kwh == Decimal("4.000")
    assert session.cost == Decimal("2.00")


def test_close_reason_defaults_to_abandoned(api, station):
    tx = _tx(station)
    body = api["admin"].post(f"/ocpp/transactions/{tx.pk}/close", {}, format="json").json()
    assert body["stop_reason"] == "Abandoned"
    assert body["meter_stop"] == 1000  # no sample: nothing was charged
    tx.refresh_from_db()
    assert not tx.is_open


def test_close_of_a_closed_transaction_is_a_conflict(api, station):
    tx = _closed(station)
    response = api["admin"].post(f"/ocpp/transactions/{tx.pk}/close", {"reason": "Lost"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    tx.refresh_from_db()
    assert (tx.stop_reason, tx.meter_stop) == ("Local", 2000)


@pytest.mark.parametrize("reason", ["R" * 33, "", None])
def test_close_with_a_bad_reason_is_refused(api, station, reason):
    tx = _tx(station)
    response = api["admin"].post(f"/ocpp/transactions/{tx.pk}/close", {"reason": reason}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["fields"]
    tx.refresh_from_db()
    assert tx.is_open
