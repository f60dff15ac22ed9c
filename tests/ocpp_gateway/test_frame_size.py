"""Frame size limit through a real Daphne: up to 1 MiB is taken, larger is
refused with a close frame carrying 1009 (not a dropped TCP connection, 1006)."""

import asyncio
import json

import pytest
from ocpp.v16 import call

from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_two_mebibyte_frame_is_closed_with_1009(server):
    async with station_session(server, "CP-BIG", max_size=None) as station:
        ws = station._connection
        await ws.send(
            json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "a" * (2 * 1024 * 1024)}])
        )
        await asyncio.wait_for(ws.wait_closed(), 30)
        assert ws.protocol.close_rcvd is not None, "no close frame reached the station"
        assert ws.protocol.close_rcvd.code == 1009


async def test_frame_just_under_one_mebibyte_is_answered(server):
    async with station_session(server, "CP-ALMOST-BIG", max_size=None) as station:
        data = "a" * (1024 * 1024 - 200)
        result = await station.call(call.DataTransfer(vendor_id="x", data=data))
        assert result.status == "UnknownVendorId"
