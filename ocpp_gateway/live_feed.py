"""What the staff dashboard needs from the station hot path: a note that a
station changed, coalesced into at most one channel-layer message per
second per process, and sent only while someone watches.

A frame costs one set insert when watched and two attribute reads when not.
Watching is known from memory: this process's viewers are counted, other
processes' (with Redis) are polled from one key every few seconds."""

import asyncio
import logging

import redis.asyncio as aredis
from channels.layers import get_channel_layer
from django.conf import settings

from ocpp_gateway.runtime import runtime

logger = logging.getLogger(__name__)

GROUP = "dashboard"
WATCHED_KEY = "evpower:dashboard:watched"
WATCHED_TTL = 30  # seconds a viewer's mark lasts unless renewed
RENEW_SECONDS = 10
POLL_SECONDS = 2
PUBLISH_EVERY = 1.0  # seconds: at most one update per process (and so per station) per second

_state = runtime.dashboard


def watched() -> bool:
    return bool(_state.local_viewers or _state.remote_viewers)


def station_changed(station_pk: int) -> None:
    """A station's status, meter or sessions changed (committed): tell the dashboard soon."""
    if not watched():
        return
    _state.changed.add(station_pk)
    loop = asyncio.get_running_loop()
    # A publish scheduled on a loop that has since closed (tests run many) never comes.
    if not _state.publish_pending or _state.publish_loop is not loop:
        _state.publish_pending, _state.publish_loop = True, loop
        loop.call_later(PUBLISH_EVERY, lambda: runtime.keep_running("dashboard-publish", _publish))


async def _publish() -> None:
    _state.publish_pending = False
    changed, _state.changed = _state.changed, set()
    if not changed:
        return
    try:
        await get_channel_layer().group_send(
            GROUP, {"type": "dashboard.changed", "stations": sorted(changed)}
        )
    except Exception:
        logger.warning("Dashboard update not published", exc_info=True)


def _redis() -> aredis.Redis:
    return runtime.redis()


async def viewer_joined() -> None:
    _state.local_viewers += 1
    await viewer_renew()


async def viewer_renew() -> None:
    if settings.REDIS_URL:
        await _redis().set(WATCHED_KEY, "1", ex=WATCHED_TTL)


def viewer_left() -> None:
    # Other processes notice within WATCHED_TTL, when the mark expires.
    _state.local_viewers = max(0, _state.local_viewers - 1)


async def poll_forever() -> None:
    """Keep `remote_viewers` current (with Redis: viewers may sit in another process)."""
    if not settings.REDIS_URL:
        return
    while True:
        try:
            _state.remote_viewers = bool(await _redis().exists(WATCHED_KEY))
        except Exception:
            logger.debug("Dashboard watch poll failed", exc_info=True)
        await asyncio.sleep(POLL_SECONDS)
