"""A station that connected while Redis (or its connections) failed for a moment
becomes reachable for commands by itself, and presence waits for a pooled
Redis connection instead of failing in a reconnect storm."""

import asyncio

import pytest
from django.conf import settings

from ocpp_gateway import presence
from ocpp_gateway.runtime import REDIS_CONNECTIONS, runtime
from tests.station import eventually

pytestmark = pytest.mark.django_db(transaction=True)

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="presence is Redis's (REDIS_URL unset)")


@needs_redis
async def test_a_station_whose_registration_failed_is_registered_again(
    raw_station, close_writer, monkeypatch
):
    client = runtime.redis()
    real_eval = client.eval
    failures = []

    async def eval_failing_once(script, *args):
        if script == presence._REGISTER and not failures:
            failures.append(args)
            raise ConnectionError("too many Redis connections")
        return await real_eval(script, *args)

    monkeypatch.setattr(client, "eval", eval_failing_once)
    station = await raw_station("CP-STORM")

    async def registered():
        assert failures
        # In Redis, where the other processes look: this process holds it.
        assert await presence.holder("CP-STORM") == presence.PROCESS_ID

    await eventually(registered, timeout=10)
    reply = await station.call("Heartbeat", {})
    assert reply[0] == 3


@needs_redis
async def test_presence_calls_beyond_the_pool_size_wait_for_a_connection():
    many = REDIS_CONNECTIONS * 6
    results = await asyncio.gather(*(presence.is_connected(f"CP-NONE-{n}") for n in range(many)))
    assert results == [False] * many
