"""The message log of the station side, end to end: a real Daphne process, a real ocpp client."""

import pytest
from ocpp.v16 import call

from tests.station import eventually, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_every_frame_is_in_the_message_log(server):
    from stations.models import MessageLog

    async with station_session(server, "CP-LOGGED") as cp:
        await cp.call(call.Heartbeat())

    async def logged():
        rows = {
            (m.direction, m.message_type, m.action)
            async for m in MessageLog.objects.filter(station_id="CP-LOGGED")
        }
        assert {
            ("in", "CALL", "BootNotification"),
            ("out", "CALLRESULT", "BootNotification"),
            ("in", "CALL", "Heartbeat"),
            ("out", "CALLRESULT", "Heartbeat"),
            ("out", "CALL", "GetConfiguration"),
            ("in", "CALLRESULT", "GetConfiguration"),
        } <= rows

    await eventually(logged)
