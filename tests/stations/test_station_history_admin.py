"""The back office lists what stations report about themselves, read-only, from operator up."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from stations.models import StationEvent
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
