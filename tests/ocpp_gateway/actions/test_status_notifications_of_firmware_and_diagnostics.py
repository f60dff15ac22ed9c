"""DiagnosticsStatusNotification and FirmwareStatusNotification, end to end (real server, real client)."""

import pytest
from ocpp.v16 import call

from stations.models import Station, StationEvent
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_diagnostics_and_firmware_status_latest_and_history(server):
    async with station_session(server, "CP-FW") as cp:
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    station = await Station.objects.aget(station_id="CP-FW")
    assert station.firmware_status == "Installed"
    assert station.diagnostics_status == "Uploaded"
    history = [(e.kind, e.status) async for e in StationEvent.objects.filter(station=station).order_by("id")]
    assert history == [("firmware", "Downloading"), ("firmware", "Installed"), ("diagnostics", "Uploaded")]
