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
    real_pipeline = client.pipeline
    failures = []

    def pipeline_failing_once(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        async def execute(*args, **kwargs):
            if not failures and any(script.script == presence._REGISTER for script in pipe.scripts):
                failures.append(pipe)
                raise ConnectionError("too many Redis connections")
            return await real_execute(*args, **kwargs)

        pipe.execute = execute
        return pipe

    monkeypatch.setattr(client, "pipeline", pipeline_failing_once)
    station = await raw_station("CP-STORM")

    async def registered():
        assert failures
        # In Redis, where the other processes look: this process holds it.
        assert await presence.holder("CP-STORM") == presence.PROCESS_ID

    await eventually(registered, timeout=10)
    reply = await station.call("Heartbeat", {})
    assert reply[0] == 3


@needs_redis
async def test_stations_registering_together_share_round_trips(monkeypatch):
    client = runtime.redis()
    real_pipeline, sent = client.pipeline, []

    def counted(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        async def execute(*args, **kwargs):
            sent.append([command[0][0] for command in pipe.command_stack])
            return await real_execute(*args, **kwargs)

        pipe.execute = execute
        return pipe

    monkeypatch.setattr(client, "pipeline", counted)
    many = 300
    try:
        results = await asyncio.gather(*(presence.register(f"CP-TOGETHER-{n}", n, n) for n in range(many)))
        assert results == [None] * many
        # All of them queued before the first went out: one pipeline, one
        # script call per station in it, and no call of their own.
        assert sent == [["EVALSHA"] * many]
        holders = await asyncio.gather(*(presence.holder(f"CP-TOGETHER-{n}") for n in range(many)))
        assert set(holders) == {presence.PROCESS_ID}
    finally:
        await asyncio.gather(*(presence.unregister(f"CP-TOGETHER-{n}", n) for n in range(many)))
    assert not any(await asyncio.gather(*(presence.is_connected(f"CP-TOGETHER-{n}") for n in range(many))))


@needs_redis
async def test_presence_calls_beyond_the_pool_size_wait_for_a_connection():
    many = REDIS_CONNECTIONS * 6
    results = await asyncio.gather(*(presence.is_connected(f"CP-NONE-{n}") for n in range(many)))
    assert results == [False] * many


@needs_redis
async def test_a_registration_given_up_on_is_published_alone_by_the_next_flush(monkeypatch):
    """A caller's timeout in an overloaded storm is not Redis lost: that one
    station is published again within a second, not every station every second."""
    client = runtime.redis()
    real_pipeline = client.pipeline

    def slow_pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        async def execute(*args, **kwargs):
            if any(script.script == presence._REGISTER for script in pipe.scripts):
                await asyncio.sleep(0.5)
            return await real_execute(*args, **kwargs)

        pipe.execute = execute
        return pipe

    monkeypatch.setattr(client, "pipeline", slow_pipeline)
    local = runtime.presence
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(presence.register("CP-GIVEN-UP", 7, 1), 0.05)
        assert not local.republish
        assert local.soon and "CP-GIVEN-UP" in local.dirty
        monkeypatch.setattr(client, "pipeline", real_pipeline)
        await presence.flush(store_last_seen=lambda seen: None)
        assert await presence.holder("CP-GIVEN-UP") == presence.PROCESS_ID
        assert not local.soon
    finally:
        await presence.unregister("CP-GIVEN-UP", 7)
