"""The dashboard's feed from the hot path: nothing while nobody watches,
coalesced to one message per second while someone does."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from ocpp_gateway import live_feed
from ocpp_gateway.runtime import runtime


@pytest.fixture
def watch(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.REDIS_URL = ""
    state = runtime.dashboard

    def reset():
        state.local_viewers, state.remote_viewers = 0, False
        state.changed, state.publish_pending = set(), False

    reset()  # a live server's viewer may have marked the network watched in Redis
    yield state
    reset()


async def _listener():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(live_feed.GROUP, channel)
    return layer, channel


async def test_nothing_is_published_while_nobody_watches(watch):
    layer, channel = await _listener()

    for _ in range(100):
        live_feed.station_changed(7)

    assert watch.changed == set() and not watch.publish_pending
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), live_feed.PUBLISH_EVERY + 0.5)


async def test_many_frames_make_one_message_naming_each_station_once(watch):
    layer, channel = await _listener()
    await live_feed.viewer_joined()

    for _ in range(100):
        live_feed.station_changed(7)
    live_feed.station_changed(8)

    message = await asyncio.wait_for(layer.receive(channel), live_feed.PUBLISH_EVERY + 5)
    assert message == {"type": "dashboard.changed", "stations": [7, 8]}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), live_feed.PUBLISH_EVERY + 0.5)

    live_feed.viewer_left()
    assert not live_feed.watched()
