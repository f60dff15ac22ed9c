"""The back office lists what stations report about themselves, read-only, from operator up."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from stations.models import ProtocolViolation, StationEvent
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_operator_reads_station_events_in_the_admin(users):
    station = StationFactory(station_id="CP-ADM-EV")
    StationEvent.objects.create(
        station=station,
        kind=StationEvent.Kind.SECURITY,
        status="FirmwareUpdated",
        detail="from 1.2 to 1.3",
        received_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    client = _login(users["operator"])

    page = client.get("/admin/stations/stationevent/")
    assert page.status_code == 200
    assert b"FirmwareUpdated" in page.content
    assert client.get("/admin/stations/stationevent/add/").status_code == 403


def test_operator_reads_protocol_violations_in_the_admin(users):
    station = StationFactory(station_id="CP-ADM-PV")
    seen = datetime(2026, 3, 1, tzinfo=UTC)
    violation = ProtocolViolation.objects.create(
        station=station,
        action="BootNotification",
        kind="too_long",
        field="chargeBoxSerialNumber",
        detail="31 characters, at most 25 allowed; kept in full",
        count=4,
        first_seen=seen,
        last_seen=seen,
        example=[2, "1", "BootNotification", {"chargeBoxSerialNumber": "X" * 31}],
    )
    client = _login(users["operator"])

    page = client.get("/admin/stations/protocolviolation/")
    assert page.status_code == 200
    assert b"chargeBoxSerialNumber" in page.content
    assert client.get(f"/admin/stations/protocolviolation/{violation.pk}/change/").status_code == 200
    assert client.get("/admin/stations/protocolviolation/add/").status_code == 403


def test_staff_set_a_station_tolerance_policy_in_the_admin(users):
    station = StationFactory(station_id="CP-ADM-TOL")
    form = _login(users["admin"]).get(f"/admin/stations/station/{station.pk}/change/")
    assert form.status_code == 200
    assert b'name="tolerance"' in form.content
