"""Heartbeat, end to end: a real Daphne process, a real ocpp client."""

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_heartbeat_answers_current_time(server):
    async with station_session(server, "CP-HB") as cp:
        reply = await cp.call(call.Heartbeat())
    assert abs(datetime.fromisoformat(reply.current_time) - datetime.now(UTC)) < timedelta(seconds=5)
