"""A station that connected while Redis (or its connections) failed for a moment
becomes reachable for commands by itself, and presence waits for a pooled
Redis connection instead of failing in a reconnect storm."""

import asyncio

import pytest
from django.conf import settings

from ocpp_gateway import presence
from ocpp_gateway.runtime import REDIS_CONNECTIONS
from tests.station import eventually

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_station_whose_registration_failed_is_registered_again(
    raw_station, close_writer, monkeypatch
):
    real_register = presence.register
    failures = []

    async def register_failing_once(station_id, channel_name):
        if not failures:
            failures.append(station_id)
            raise ConnectionError("too many Redis connections")
        await real_register(station_id, channel_name)

    monkeypatch.setattr(presence, "register", register_failing_once)
    station = await raw_station("CP-STORM")

    async def registered():
        assert failures == ["CP-STORM"]
        assert await presence.is_connected("CP-STORM")

    await eventually(registered, timeout=10)
    reply = await station.call("Heartbeat", {})
    assert reply[0] == 3


@pytest.mark.skipif(not settings.REDIS_URL, reason="the presence pool is Redis's (REDIS_URL unset)")
async def test_presence_calls_beyond_the_pool_size_wait_for_a_connection():
    many = REDIS_CONNECTIONS * 6
    results = await asyncio.gather(*(presence.is_connected(f"CP-NONE-{n}") for n in range(many)))
    assert results == [False] * many
