from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import MeterValue, Session, Tariff, Transaction
from stations.models import Connector, IdTag, MessageLog, StatusRecord
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin_client(users):
    client = Client()
    client.force_login(users["superadmin"])
    return client


@pytest.fixture
def rows():
    station = StationFactory(station_id="CP:01#A+B.2")
    connector = Connector.objects.create(station=station, connector_id=1, status="Available")
    tag = IdTag.objects.create(id_tag="TAG1")
    record = StatusRecord.objects.create(
        station=station, connector_id=1, status="Available", error_code="NoError", received_at=T0
    )
    message = MessageLog.objects.create(
        station_id="CP:01#A+B.2", direction="in", message_type="CALL", action="Heartbeat", created_at=T0
    )
    tariff = Tariff.objects.create(name="Std", currency="EUR")
    tx = Transaction.objects.create(
        station=station, connector_id=1, id_tag="TAG1", meter_start=0, started_at=T0
    )
    session = Session.objects.create(station=station, connector_id=1, id_tag="TAG1", transaction=tx)
    value = MeterValue.objects.create(
        transaction=tx, station=station, connector_id=1, timestamp=T0, measurand="Voltage", value="230"
    )
    return [station, connector, tag, record, message, tariff, tx, session, value]


def test_every_back_office_page_renders(admin_client, rows):
    for obj in rows:
        meta = obj._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert admin_client.get(changelist).status_code == 200, changelist
        assert admin_client.get(f"{changelist}?q=CP").status_code == 200, changelist
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        assert admin_client.get(change).status_code == 200, change


def test_message_log_is_read_only_in_the_back_office(admin_client, rows):
    message = rows[4]
    assert admin_client.get(reverse("admin:stations_messagelog_add")).status_code == 403
    change = reverse("admin:stations_messagelog_change", args=[message.pk])
    admin_client.post(change, {"action": "Tampered"})
    message.refresh_from_db()
    assert message.action == "Heartbeat"
    assert admin_client.get(reverse("admin:stations_messagelog_delete", args=[message.pk])).status_code == 403


def test_station_password_hash_is_not_on_the_station_page(admin_client, rows):
    station = rows[0]
    station.set_password("s3cret")
    station.save()
    page = admin_client.get(reverse("admin:stations_station_change", args=[station.pk])).content.decode()
    assert station.password_hash not in page
    assert "password_hash" not in page
