"""Live presence: which stations are connected, since when, last seen.

Without `REDIS_URL` it lives in this process. With it, every process writes
its stations into one Redis hash and keeps a liveness key with a short TTL;
entries of a process whose key expired (the process died) are ignored and
pruned, so a dead process's stations drop out within PRESENCE_PROCESS_TTL.
last_seen is updated in memory per frame and flushed every few seconds.
"""

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis
import redis.asyncio as aredis
from django.conf import settings

from ocpp_gateway.conf import gateway_settings
from ocpp_gateway.runtime import runtime

logger = logging.getLogger(__name__)

PROCESS_ID = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
HASH_KEY = "evpower:presence"
PROCESS_KEY = "evpower:process:{}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


_local = runtime.presence


def _redis_sync() -> redis.Redis:
    if runtime.redis_sync is None:
        runtime.redis_sync = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return runtime.redis_sync


def _redis_async() -> aredis.Redis:
    return runtime.redis()


def _entry_json(entry: dict) -> str:
    return json.dumps({**entry, "process": PROCESS_ID})


async def register(station_id: str, channel_name: str) -> None:
    now = time.time()
    entry = {"station_id": station_id, "channel": channel_name, "since": now, "last_seen": now}
    _local.entries[station_id] = entry
    if settings.REDIS_URL:
        client = _redis_async()
        await client.set(PROCESS_KEY.format(PROCESS_ID), "1", ex=gateway_settings.PRESENCE_PROCESS_TTL)
        await client.hset(HASH_KEY, station_id, _entry_json(entry))


async def unregister(station_id: str, channel_name: str) -> None:
    entry = _local.entries.get(station_id)
    if entry is None or entry["channel"] != channel_name:
        return  # replaced by a newer connection in this process
    del _local.entries[station_id]
    _local.dirty.discard(station_id)
    if settings.REDIS_URL:
        client = _redis_async()
        current = await client.hget(HASH_KEY, station_id)
        if current and json.loads(current).get("channel") == channel_name:
            await client.hdel(HASH_KEY, station_id)


async def is_connected(station_id: str) -> bool:
    """Whether some process (this one or, with Redis, any) holds the station now."""
    if station_id in _local.entries:
        return True
    if settings.REDIS_URL:
        return bool(await _redis_async().hexists(HASH_KEY, station_id))
    return False


def touch(station_id: str) -> None:
    """A frame arrived: cheap, in memory; flushed by the background task."""
    entry = _local.entries.get(station_id)
    if entry is not None:
        entry["last_seen"] = time.time()
        _local.dirty.add(station_id)


async def flush(*, store_last_seen: Callable[[dict[str, datetime]], None]) -> None:
    """Publish last_seen of stations heard from since the last flush, and hand
    them to `store_last_seen` (the database write)."""
    dirty, _local.dirty = _local.dirty, set()
    entries = [_local.entries[s] for s in dirty if s in _local.entries]
    if settings.REDIS_URL:
        client = _redis_async()
        pipe = client.pipeline(transaction=False)
        pipe.set(PROCESS_KEY.format(PROCESS_ID), "1", ex=gateway_settings.PRESENCE_PROCESS_TTL)
        if entries:
            pipe.hset(HASH_KEY, mapping={e["station_id"]: _entry_json(e) for e in entries})
        await pipe.execute()
    if entries:
        seen = {e["station_id"]: datetime.fromtimestamp(e["last_seen"], UTC) for e in entries}
        store_last_seen(seen)


async def flush_forever(*, store_last_seen: Callable[[dict[str, datetime]], None]) -> None:
    while True:
        await asyncio.sleep(gateway_settings.PRESENCE_FLUSH_SECONDS)
        try:
            await flush(store_last_seen=store_last_seen)
        except Exception:
            logger.warning("Presence flush failed", exc_info=True)


def _public(entry: dict) -> dict:
    return {
        "station_id": entry["station_id"],
        "connected_since": _iso(entry["since"]),
        "last_seen": _iso(entry["last_seen"]),
    }


def connections() -> list[dict]:
    """Every station connected now, across all processes (sync, for views)."""
    if not settings.REDIS_URL:
        return [_public(e) for e in list(_local.entries.values())]
    client = _redis_sync()
    raw = client.hgetall(HASH_KEY)
    entries = [json.loads(v) for v in raw.values()]
    processes = sorted({e["process"] for e in entries})
    alive = (
        dict(zip(processes, client.mget([PROCESS_KEY.format(p) for p in processes]), strict=True))
        if processes
        else {}
    )
    live, dead = [], []
    for entry in entries:
        (live if alive.get(entry["process"]) else dead).append(entry)
    if dead:
        client.hdel(HASH_KEY, *[e["station_id"] for e in dead])
    return [_public(e) for e in live]


def connection_get(station_id: str) -> dict | None:
    if not settings.REDIS_URL:
        entry = _local.entries.get(station_id)
        return _public(entry) if entry else None
    client = _redis_sync()
    raw = client.hget(HASH_KEY, station_id)
    if not raw:
        return None
    entry = json.loads(raw)
    if not client.get(PROCESS_KEY.format(entry["process"])):
        return None
    return _public(entry)


def local_count() -> int:
    return len(_local.entries)
