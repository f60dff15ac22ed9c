"""Billing history in the back office: read-only, readable, exported as CSV,
listed in a fixed number of queries however many rows."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from billing.models import MeterValue, Session, SessionStatus, Tariff, Transaction
from stations.models import Connector, MessageLog
from tests.factories import IdTagFactory, StationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(users):
    def login(role="superadmin") -> Client:
        client = Client()
        client.force_login(users[role])
        return client

    return login


def _history(count: int) -> None:
    for n in range(count):
        station = StationFactory(time_zone="Europe/Moscow")
        Connector.objects.create(station=station, connector_id=1, status="Charging")
        tag = IdTagFactory()
        tx = Transaction.objects.create(
            station=station,
            connector_id=1,
            id_tag=tag.id_tag,
            meter_start=0,
            meter_stop=12_345,
            started_at=T0,
            stopped_at=T0 + timedelta(minutes=30),
        )
        Session.objects.create(
            station=station,
            connector_id=1,
            id_tag=tag.id_tag,
            user=tag.owner,
            transaction=tx,
            status=SessionStatus.COMPLETED,
            energy_kwh=Decimal("12.345"),
            cost=Decimal("4.5"),
            currency="EUR",
            started_at=T0,
            stopped_at=T0 + timedelta(minutes=30),
        )
        MeterValue.objects.create(
            transaction=tx, station=station, connector_id=1, timestamp=T0, measurand="Voltage", value="230"
        )
        MessageLog.objects.create(
            station_id=station.station_id,
            direction="in",
            message_type="CALL",
            action="Heartbeat",
            payload={"n": n},
            created_at=T0,
        )


LISTS = [
    "/admin/billing/session/",
    "/admin/billing/transaction/",
    "/admin/billing/metervalue/",
    "/admin/stations/messagelog/",
    "/admin/stations/station/",
    "/admin/stations/connector/",
]


@pytest.mark.parametrize("path", LISTS)
def test_lists_take_the_same_queries_for_many_rows(staff, path, django_assert_max_num_queries):
    client = staff()
    _history(2)
    with django_assert_max_num_queries(30) as few:
        assert client.get(path).status_code == 200
    _history(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(path).status_code == 200


def test_session_list_shows_money_energy_duration_and_station_time(staff):
    _history(1)
    page = staff("operator").get("/admin/billing/session/").content.decode()

    assert "€4.50" in page
    assert "12.345" in page
    assert "0:30:00" in page
    assert "2024-05-01 15:00:00 MSK (Europe/Moscow)" in page  # station's zone, named


def test_billing_history_cannot_be_added_or_edited(staff):
    _history(1)
    session = Session.objects.get()
    client = staff()  # even a superadmin

    assert client.get("/admin/billing/session/add/").status_code == 403
    assert client.get("/admin/billing/transaction/add/").status_code == 403
    client.post(f"/admin/billing/session/{session.pk}/change/", {"cost": "0", "energy_kwh": "0"})
    session.refresh_from_db()
    assert (session.cost, session.energy_kwh) == (Decimal("4.5"), Decimal("12.345"))


def test_sessions_and_transactions_export_as_csv(staff):
    _history(2)
    client = staff("operator")

    sessions = client.post(
        "/admin/billing/session/",
        {"action": "export_csv", "_selected_action": list(Session.objects.values_list("pk", flat=True))},
    )
    rows = b"".join(sessions.streaming_content).decode().splitlines()
    assert rows[0].startswith("id,station_id,connector_id,id_tag,user,status,transaction_id,energy_kwh,cost")
    assert len(rows) == 3 and ",completed," in rows[1] and ",12.345,4.5" in rows[1]

    transactions = client.post(
        "/admin/billing/transaction/",
        {"action": "export_csv", "_selected_action": list(Transaction.objects.values_list("pk", flat=True))},
    )
    rows = b"".join(transactions.streaming_content).decode().splitlines()
    assert (
        rows[0] == "transaction_id,station_id,connector_id,id_tag,meter_start,meter_stop,energy_kwh,"
        "started_at,stopped_at,stop_reason"
    )
    assert ",0,12345,12.345," in rows[1]


def test_message_log_shows_a_readable_payload_to_the_second_and_filters_by_station(staff):
    _history(2)
    station_id = MessageLog.objects.first().station_id
    page = staff("operator").get(f"/admin/stations/messagelog/?station_id={station_id}").content.decode()

    assert "2024-05-01 12:00:00 UTC" in page
    assert "{&quot;n&quot;: " in page
    assert page.count("Heartbeat") >= 1
    other = MessageLog.objects.exclude(station_id=station_id).first().station_id
    assert other not in page


def test_records_read_well(db):
    _history(1)
    station = Connector.objects.get().station
    assert str(Connector.objects.get()) == f"{station.station_id} / 1"
    assert str(Session.objects.get()).startswith(f"Session {Session.objects.get().pk} ")
    assert str(Transaction.objects.get()).startswith("Transaction ")
    assert "Heartbeat" in str(MessageLog.objects.get())


def test_tariff_changes_are_kept_with_who_and_what(staff, users):
    client = staff("admin")
    tariff = Tariff.objects.create(name="Std", currency="EUR")

    response = client.get(f"/admin/billing/tariff/{tariff.pk}/history/")
    assert response.status_code == 200
    tariff.name = "Night"
    tariff._history_user = users["admin"]
    tariff.save()

    record = tariff.history.first()
    assert (record.history_user, record.name, record.prev_record.name) == (users["admin"], "Night", "Std")
    page = client.get(f"/admin/billing/tariff/{tariff.pk}/history/").content.decode()
    assert "Night" in page and users["admin"].username in page
