"""Live presence: which stations are connected, since when, last seen.

Without `REDIS_URL` it lives in this process. With it, every process writes
its stations into one Redis hash and keeps a liveness key with a short TTL;
entries of a process whose key expired (the process died) are ignored and
pruned, so a dead process's stations drop out within PRESENCE_PROCESS_TTL.
A live process that finds its key was gone (it stalled, or Redis lost its
data) writes all its stations again within a second.
last_seen is updated in memory per frame and flushed every few seconds.

Connecting writes the entry unconditionally (the newest connection of a
station wins, and the older one is told to close); a flush only writes an
entry that is still this process's to write (see _PUBLISH), so a process that
kept an old connection through a Redis outage does not publish it over the
station's newer connection in another process.
"""

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

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


# One round trip per connection: write the entry, prove this process lives,
# and return whether it was taken for alive until now (see _liveness_found)
# and the entry it replaced if another live process holds it.
_REGISTER = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local alive = redis.call('EXISTS', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
if old then
  local process = cjson.decode(old)['process']
  if process ~= ARGV[4] and redis.call('EXISTS', ARGV[5] .. tostring(process)) == 1 then
    return {alive, old}
  end
end
return {alive, false}
"""
# Remove the entries of dead processes (ARGV: the process key prefix, then
# per station its id and the entry read): each only if it is still the one
# read, and its process still dead. Read and removed in two steps, the
# station may have connected to a live process in between, and its new entry
# must stay.
_PRUNE = """
for i = 2, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if current == ARGV[i + 1] then
    local process = cjson.decode(current)['process']
    if redis.call('EXISTS', ARGV[1] .. tostring(process)) == 0 then
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
  end
end
return 0
"""
# Remove the entry only if it is still this connection's (not a newer one's).
_UNREGISTER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local entry = cjson.decode(current)
  if entry['process'] == ARGV[2] and tostring(entry['conn']) == ARGV[3] then
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
end
return 0
"""
# The entry of the station, if the process holding it lives.
_HOLDER_ENTRY = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local process = cjson.decode(current)['process']
if redis.call('EXISTS', ARGV[2] .. tostring(process)) == 1 then return current end
return false
"""
# A flush's write of this process's entries (ARGV: this process, the process
# key prefix, then per station its id, entry JSON and connect time): each is
# written only if the hash has none for the station, or has this process's
# (an older connection here is replaced here, never elsewhere), or has
# another process's connection that is older than ours by connect time (ties
# broken by process id, so two processes never both win). The newest
# connection is the one the station uses: OCPP has a station keep one
# socket, and one that connects again has given up the old one. A newer
# entry wins even if its process is dead: readers ignore it anyway, and our
# connection, older than the station's latest, is the stale one (the station
# reconnects and registers afresh). Connect times come from the processes'
# clocks: hosts are assumed NTP-synced; a skew only matters for two
# connections of one station made within it.
# Returns {stations refused (a newer connection holds them: ours is stale),
# the entries of live processes overwritten (their connection is stale)}.
_PUBLISH = """
local stale, replaced = {}, {}
for i = 3, #ARGV, 3 do
  local station, since = ARGV[i], tonumber(ARGV[i + 2])
  local old = redis.call('HGET', KEYS[1], station)
  local write = true
  if old then
    local held = cjson.decode(old)
    local process = tostring(held['process'])
    if process ~= ARGV[1] then
      local held_since = tonumber(held['since']) or 0
      if held_since < since or (held_since == since and process < ARGV[1]) then
        if redis.call('EXISTS', ARGV[2] .. process) == 1 then
          table.insert(replaced, old)
        end
      else
        write = false
        table.insert(stale, station)
      end
    end
  end
  if write then
    redis.call('HSET', KEYS[1], station, ARGV[i + 1])
  end
end
return {stale, replaced}
"""
_PROCESS_KEY_PREFIX = PROCESS_KEY.format("")
# Stations per _PUBLISH call: a script blocks Redis while it runs.
PUBLISH_CHUNK = 500


class Conflicts(NamedTuple):
    """What a flush found another process holds: `stale`, this process's
    connections (station id, connection number) that a newer one elsewhere
    superseded, to be closed; `replaced`, the entries of other live processes
    whose older connections this process's newer ones overwrote, whose
    processes are to be told to close them."""

    stale: list[tuple[str, int]]
    replaced: list[dict]


# How many scripts one pipeline carries at most (a storm's worth is split).
PIPELINE_SIZE = 1000


async def _script(name: str, source: str, keys: list, args: list):
    """Run a Lua script with the other calls of the same script that arrive
    meanwhile, in one pipeline: one round trip for all (two the first time,
    when redis-py checks the script is loaded).

    In a reconnect storm thousands of stations register at once; one round
    trip each (on an event loop that is itself busy) queued connections for
    up to 16 s behind each other (5,000 stations on one process)."""
    loop = asyncio.get_running_loop()
    calls = runtime.redis_calls.get((loop, source))
    if calls is None:
        calls = runtime.redis_calls[(loop, source)] = []
    future = loop.create_future()
    calls.append((keys, args, future))
    runtime.keep_running(f"presence-{name}", partial(_scripts_run, loop, source))
    return await future


async def _scripts_run(loop: asyncio.AbstractEventLoop, source: str) -> None:
    client = _redis_async()
    script = client.register_script(source)
    while calls := runtime.redis_calls.pop((loop, source), None):
        # Not those whose caller gave up meanwhile (a timeout): a registration
        # sent after its station's removal would list it again for good. The
        # station is published by the next flush instead (register's `soon`).
        calls = [call for call in calls if not call[2].done()]
        for start in range(0, len(calls), PIPELINE_SIZE):
            chunk = calls[start : start + PIPELINE_SIZE]
            try:
                pipe = client.pipeline(transaction=False)
                for keys, args, _ in chunk:
                    await script(keys=keys, args=args, client=pipe)
                results = await pipe.execute(raise_on_error=False)
            except BaseException as exc:
                results = [exc] * len(chunk)
                if not isinstance(exc, Exception):
                    _settle(chunk, results)
                    raise
            _settle(chunk, results)


def _settle(chunk: list, results: list) -> None:
    for (_, _, future), result in zip(chunk, results, strict=True):
        if future.done():
            continue  # its caller gave up (cancelled)
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


async def register(station_id: str, conn: int, pk: int) -> dict | None:
    """Record that this process holds the station (primary key `pk`, its
    connection number `conn`).

    Returns the entry of another live process that held it until now (that
    connection is to be closed), else None. Raises if Redis fails; the entry
    is kept in memory and published again by the next flush."""
    now = time.time()
    entry = {"station_id": station_id, "pk": pk, "conn": conn, "since": now, "last_seen": now}
    _local.entries[station_id] = entry
    _local.gone.pop(station_id, None)  # this entry replaces the old one's anyway
    if not settings.REDIS_URL:
        return None
    try:
        result = await _script(
            "register",
            _REGISTER,
            [HASH_KEY, PROCESS_KEY.format(PROCESS_ID)],
            [
                station_id,
                _entry_json(entry),
                gateway_settings.PRESENCE_PROCESS_TTL,
                PROCESS_ID,
                _PROCESS_KEY_PREFIX,
            ],
        )
    except (asyncio.CancelledError, TimeoutError):
        # A caller's timeout (a busy process in a storm), not Redis lost: the
        # write may not have happened, so this station, not every one, is
        # published by the next flush, in a second.
        _local.dirty.add(station_id)
        _local.soon = True
        raise
    except BaseException:
        _local.republish = True
        raise
    alive, old = result
    _liveness_found(bool(alive))
    return json.loads(old) if old else None


def _liveness_found(alive: bool) -> None:
    """Whether this process's liveness key was there when it was set again.
    If Redis had known it and the key was gone, it stalled past
    PRESENCE_PROCESS_TTL or Redis lost its data (a restart without
    persistence between two flushes): readers took its stations for a dead
    process's and may have pruned them (see connections). All are written
    again at the next flush, within a second, not each at its next frame (an
    idle station's next heartbeat may be minutes away, and commands to it
    were refused meanwhile)."""
    if not alive and _local.known:
        _local.republish = True
    _local.known = True


async def unregister(station_id: str, conn: int) -> None:
    """Forget the connection `conn` of the station. Raises if Redis fails; its
    entry is then removed by the next flush that reaches Redis (else the
    station would stay listed, and commands routed here, until this process
    dies)."""
    entry = _local.entries.get(station_id)
    if entry is None or entry["conn"] != conn:
        return  # replaced by a newer connection in this process
    del _local.entries[station_id]
    _local.dirty.discard(station_id)
    if settings.REDIS_URL:
        try:
            await _script("unregister", _UNREGISTER, [HASH_KEY], [station_id, PROCESS_ID, str(conn)])
        except BaseException:
            # Also when cancelled (a caller's timeout): removing twice is harmless.
            _local.gone[station_id] = conn
            raise


async def holder(station_id: str) -> str | None:
    """The live process (its PROCESS_ID) that holds the station, per Redis;
    None without Redis or if none does (a dead process's entry counts as none)."""
    if not settings.REDIS_URL:
        return None
    entry = await _live_entry(station_id)
    return entry["process"] if entry else None


async def _live_entry(station_id: str) -> dict | None:
    """The station's entry in Redis if the process holding it lives."""
    raw = await _redis_async().eval(_HOLDER_ENTRY, 1, HASH_KEY, station_id, _PROCESS_KEY_PREFIX)
    return json.loads(raw) if raw else None


async def held(station_id: str) -> tuple[int, str] | None:
    """The station's primary key and the live process holding it (this one
    asked first, without Redis), else None (also for an entry written before
    entries had the key). Raises if Redis fails."""
    entry = _local.entries.get(station_id)
    if entry is not None:
        return (entry["pk"], PROCESS_ID) if "pk" in entry else None
    if not settings.REDIS_URL:
        return None
    entry = await _live_entry(station_id) or {}
    return (entry["pk"], entry["process"]) if "pk" in entry else None


async def is_connected(station_id: str) -> bool:
    """Whether some process (this one or, with Redis, any) holds the station now."""
    if station_id in _local.entries:
        return True
    if settings.REDIS_URL:
        return bool(await _redis_async().hexists(HASH_KEY, station_id))
    return False


def republish_soon() -> None:
    """Redis failed (or came back, maybe empty): write every station of this
    process again at the next flush, which comes within a second."""
    _local.republish = True


def touch(station_id: str) -> None:
    """A frame arrived: cheap, in memory; flushed by the background task."""
    entry = _local.entries.get(station_id)
    if entry is not None:
        entry["last_seen"] = time.time()
        _local.dirty.add(station_id)


async def flush(*, store_last_seen: Callable[[dict[str, datetime]], None]) -> Conflicts:
    """Publish last_seen of stations heard from since the last flush (all of
    this process's stations after a Redis failure), remove the entries of
    connections that ended while Redis was unreachable, and hand last_seen to
    `store_last_seen` (the database write). Returns what was found held by
    another process (nothing without Redis, or if Redis failed)."""
    dirty, _local.dirty = _local.dirty, set()
    _local.soon = False
    entries = [_local.entries[s] for s in dirty if s in _local.entries]
    conflicts = Conflicts([], [])
    if settings.REDIS_URL:
        republish, _local.republish = _local.republish, False
        published = list(_local.entries.values()) if republish else entries
        gone, _local.gone = _local.gone, {}
        client = _redis_async()
        pipe = client.pipeline(transaction=False)
        pipe.set(PROCESS_KEY.format(PROCESS_ID), "1", ex=gateway_settings.PRESENCE_PROCESS_TTL, get=True)
        for station_id, conn in gone.items():
            pipe.eval(_UNREGISTER, 1, HASH_KEY, station_id, PROCESS_ID, str(conn))
        for start in range(0, len(published), PUBLISH_CHUNK):
            args = []
            for e in published[start : start + PUBLISH_CHUNK]:
                args += [e["station_id"], _entry_json(e), repr(e["since"])]
            pipe.eval(_PUBLISH, 1, HASH_KEY, PROCESS_ID, _PROCESS_KEY_PREFIX, *args)
        try:
            results = await pipe.execute()
        except Exception:
            if not _local.republish:
                logger.warning("Presence flush to Redis failed", exc_info=True)
            _local.republish = True  # Redis may come back empty
            for station_id, conn in gone.items():
                if station_id not in _local.entries:  # not connected here again meanwhile
                    _local.gone.setdefault(station_id, conn)
        else:
            _liveness_found(results[0] is not None or republish)  # (a republish wrote them all)
            conns = {e["station_id"]: e["conn"] for e in published}
            for stale, replaced in results[1 + len(gone) :]:
                for station in stale:
                    conflicts.stale.append((station.decode(), conns[station.decode()]))
                conflicts.replaced.extend(json.loads(r) for r in replaced)
    if entries:
        seen = {e["station_id"]: datetime.fromtimestamp(e["last_seen"], UTC) for e in entries}
        store_last_seen(seen)
    return conflicts


async def flush_forever(
    *,
    store_last_seen: Callable[[dict[str, datetime]], None],
    settle: Callable[[Conflicts], None],
) -> None:
    """Flush every PRESENCE_FLUSH_SECONDS (every second while Redis fails),
    and hand each flush's conflicts to `settle` (closing stale connections)."""
    waited = 0.0
    while True:
        await asyncio.sleep(1)
        waited += 1
        if waited < gateway_settings.PRESENCE_FLUSH_SECONDS and not (_local.republish or _local.soon):
            continue
        waited = 0.0
        try:
            conflicts = await flush(store_last_seen=store_last_seen)
            if conflicts.stale or conflicts.replaced:
                settle(conflicts)
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
    for (station_id, value), entry in zip(raw.items(), entries, strict=True):
        if alive.get(entry["process"]):
            live.append(entry)
        else:
            dead += [station_id, value]
    for start in range(0, len(dead), 2 * PUBLISH_CHUNK):  # (a script blocks Redis while it runs)
        client.eval(_PRUNE, 1, HASH_KEY, _PROCESS_KEY_PREFIX, *dead[start : start + 2 * PUBLISH_CHUNK])
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
