"""BootNotification, end to end: a real Daphne process, a real ocpp client."""

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from stations.models import Station
from tests.station import eventually, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_boot_notification_stores_boot_info(server):
    async with station_session(server, "CP-BOOT", boot=False) as cp:
        reply = await cp.call(
            call.BootNotification(
                charge_point_vendor="ACME",
                charge_point_model="Volt 22",
                charge_point_serial_number="SN-1",
                charge_box_serial_number="BOX-1",
                firmware_version="1.2.3",
                iccid="8931",
                imsi="2620",
                meter_type="EM-1",
                meter_serial_number="M-9",
            )
        )
        assert reply.status == "Accepted"
        assert reply.interval == 300
        assert abs(datetime.fromisoformat(reply.current_time) - datetime.now(UTC)) < timedelta(seconds=5)
    station = await Station.objects.aget(station_id="CP-BOOT")
    assert (station.vendor, station.model, station.serial_number) == ("ACME", "Volt 22", "SN-1")
    assert (station.charge_box_serial_number, station.firmware_version) == ("BOX-1", "1.2.3")
    assert (station.iccid, station.imsi, station.meter_type, station.meter_serial_number) == (
        "8931",
        "2620",
        "EM-1",
        "M-9",
    )
    assert station.last_boot_at is not None


async def test_after_boot_the_station_configuration_is_fetched_and_kept(server):
    async def stored():
        station = await Station.objects.aget(station_id="CP-CONF")
        assert station.configuration.get("HeartbeatInterval") == {"value": "300", "readonly": False}
        assert station.configuration.get("NumberOfConnectors") == {"value": "2", "readonly": True}

    async with station_session(server, "CP-CONF") as cp:
        await cp.wait_for("GetConfiguration")
        await eventually(stored)
