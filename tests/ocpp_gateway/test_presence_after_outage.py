"""Presence once Redis is back after an outage: the station's newest
connection is the one published, wherever the older one lives, and entries of
connections that ended meanwhile are removed. Against a private redis-server
that the tests stop and start (with its data kept, as a restart with
persistence or a network partition keeps it)."""

import asyncio
import json
import shutil
import time

import pytest
import redis as redis_py
from asgiref.sync import sync_to_async

from ocpp_gateway import presence
from ocpp_gateway.runtime import runtime
from tests.live import http
from tests.redis_server import PrivateRedis
from tests.station import station_session

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")

OTHER = "other-process"


@pytest.fixture
def redis(tmp_path):
    instance = PrivateRedis(tmp_path)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
async def local_presence(settings, redis):
    """This process's presence, empty, published to the private Redis."""
    settings.REDIS_URL = redis.url
    state = runtime.presence
    saved, saved_sync = dict(vars(state)), runtime.redis_sync
    state.__init__()
    runtime.redis_sync = None  # (connections(): a client of the private Redis)
    yield state
    vars(state).clear()
    vars(state).update(saved)
    if runtime.redis_sync is not None:
        runtime.redis_sync.close()
    runtime.redis_sync = saved_sync
    client = runtime.redis_async.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.connection_pool.disconnect()


def other_process_holds(redis, station_id: str, *, since: float, alive: bool = True) -> dict:
    """Write the station's entry as another server process would."""
    entry = {"station_id": station_id, "conn": 7, "since": since, "last_seen": since, "process": OTHER}
    client = redis.client()
    client.hset(presence.HASH_KEY, station_id, json.dumps(entry))
    if alive:
        client.set(presence.PROCESS_KEY.format(OTHER), "1", ex=30)
    return entry


def held_by(redis, station_id: str) -> dict | None:
    raw = redis.client().hget(presence.HASH_KEY, station_id)
    return json.loads(raw) if raw else None


def kept_through_an_outage(local_presence, station_id: str, *, since: float) -> None:
    """A connection of this process from `since`, to be published again (Redis failed)."""
    local_presence.entries[station_id] = {
        "station_id": station_id,
        "conn": 1,
        "since": since,
        "last_seen": since,
    }
    local_presence.republish = True


def no_store(seen):
    pass


async def test_republishing_leaves_a_newer_connection_of_another_process_and_names_ours_stale(
    local_presence, redis
):
    now = time.time()
    kept_through_an_outage(local_presence, "CP-MOVED", since=now - 60)
    theirs = other_process_holds(redis, "CP-MOVED", since=now)

    conflicts = await presence.flush(store_last_seen=no_store)

    assert held_by(redis, "CP-MOVED") == theirs
    assert conflicts.stale == [("CP-MOVED", 1)]
    assert conflicts.replaced == []


async def test_republishing_replaces_an_older_connection_of_another_process_and_names_it(
    local_presence, redis
):
    now = time.time()
    kept_through_an_outage(local_presence, "CP-MOVED", since=now)
    theirs = other_process_holds(redis, "CP-MOVED", since=now - 60)

    conflicts = await presence.flush(store_last_seen=no_store)

    assert held_by(redis, "CP-MOVED")["process"] == presence.PROCESS_ID
    assert conflicts.stale == []
    assert conflicts.replaced == [theirs]


async def test_republishing_replaces_a_dead_process_older_entry_without_telling_it(local_presence, redis):
    now = time.time()
    kept_through_an_outage(local_presence, "CP-MOVED", since=now)
    other_process_holds(redis, "CP-MOVED", since=now - 60, alive=False)

    conflicts = await presence.flush(store_last_seen=no_store)

    assert held_by(redis, "CP-MOVED")["process"] == presence.PROCESS_ID
    assert conflicts == ([], [])


async def test_a_last_seen_flush_does_not_overwrite_a_newer_connection_elsewhere(local_presence, redis):
    # No outage: the station reconnected to another process, whose notice to
    # close our connection has not arrived yet when our connection's last
    # frame is flushed.
    await presence.register("CP-MOVED", 1, 1)
    theirs = other_process_holds(redis, "CP-MOVED", since=time.time() + 1)
    presence.touch("CP-MOVED")

    conflicts = await presence.flush(store_last_seen=no_store)

    assert held_by(redis, "CP-MOVED") == theirs
    assert conflicts.stale == [("CP-MOVED", 1)]


async def unregister_missed(redis, station_id: str) -> None:
    """The station's connection ends while Redis is down (then back)."""
    await presence.register(station_id, 1, 1)
    redis.stop()
    with pytest.raises(redis_py.exceptions.ConnectionError):
        await presence.unregister(station_id, 1)
    redis.start()


async def test_an_unregister_redis_missed_is_done_by_the_first_flush_after_the_outage(local_presence, redis):
    await unregister_missed(redis, "CP-GONE")
    assert held_by(redis, "CP-GONE")["process"] == presence.PROCESS_ID  # kept through the restart

    await presence.flush(store_last_seen=no_store)

    assert held_by(redis, "CP-GONE") is None
    assert local_presence.gone == {}


async def test_an_unregister_redis_missed_does_not_remove_a_newer_connection(local_presence, redis):
    await unregister_missed(redis, "CP-BACK")
    theirs = other_process_holds(redis, "CP-BACK", since=time.time())

    await presence.flush(store_last_seen=no_store)

    assert held_by(redis, "CP-BACK") == theirs


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_a_station_that_moved_during_an_outage_is_commanded_where_it_is_now(
    start_server, live_token, redis
):
    env = {"REDIS_URL": redis.url, "OCPP_PRESENCE_FLUSH_SECONDS": "1", "OCPP_PRESENCE_PROCESS_TTL": "3"}
    a = start_server(fresh=True, **env)
    b = start_server(fresh=True, **env)
    key = await sync_to_async(live_token)()
    async with station_session(a, "CP-MOVED") as old:
        await old.wait_for("GetConfiguration")
        redis.stop()
        # The old socket stays open (a half-open one would, for a while) while
        # the station connects to another process, unseen by the first.
        async with station_session(b, "CP-MOVED") as new:
            new.answers["Reset"] = {"status": "Rejected"}  # the old one says Accepted
            redis.start()
            await asyncio.wait_for(old._connection.wait_closed(), 15)
            assert old._connection.close_code == 4000  # replaced
            body = {"station_id": "CP-MOVED", "command": "Reset", "payload": {"type": "Soft"}}
            for _ in range(50):  # the command queues' Redis connections come back too
                response = await http(a, "POST", "/ocpp/send_command", key, body)
                if response.status_code != 503:
                    break
                await asyncio.sleep(0.2)
            for server in (a, b, a, b):
                response = await http(server, "POST", "/ocpp/send_command", key, body)
                assert response.status_code == 200, response.text
                assert response.json()["response"] == {"status": "Rejected"}


async def test_a_process_taken_for_dead_publishes_all_its_stations_again_within_a_second(
    local_presence, redis
):
    """Its liveness key expired (it stalled past PRESENCE_PROCESS_TTL) and a
    reader pruned its entries: its next flush sees the key gone and asks for
    every station to be written again, not each at its next frame (an idle
    station's heartbeat may be minutes away; commands to it were refused)."""
    await presence.register("CP-IDLE", 1, 1)
    await presence.register("CP-BUSY", 2, 2)
    await presence.flush(store_last_seen=no_store)
    assert not local_presence.republish
    client = redis.client()
    client.delete(presence.PROCESS_KEY.format(presence.PROCESS_ID))  # expired
    await sync_to_async(presence.connections)()  # a reader prunes the "dead" process's stations
    assert held_by(redis, "CP-IDLE") is None

    presence.touch("CP-BUSY")  # only this one was heard from
    await presence.flush(store_last_seen=no_store)
    assert local_presence.republish  # the key was gone
    await presence.flush(store_last_seen=no_store)  # (the next second's)

    assert held_by(redis, "CP-IDLE")["conn"] == 1
    assert {e["station_id"] for e in await sync_to_async(presence.connections)()} == {"CP-IDLE", "CP-BUSY"}
    assert not local_presence.republish


async def test_a_connection_that_finds_its_process_taken_for_dead_has_all_published_again(
    local_presence, redis
):
    """A registration sets the liveness key too: the flush after it would
    find the key there, so the registration itself asks for the rest."""
    await presence.register("CP-IDLE", 1, 1)
    await presence.flush(store_last_seen=no_store)
    redis.client().flushall()  # Redis restarted without its data between two flushes
    await presence.register("CP-NEW", 2, 2)
    assert local_presence.republish
    await presence.flush(store_last_seen=no_store)
    assert held_by(redis, "CP-IDLE")["conn"] == 1


async def test_a_live_key_asks_for_nothing_more(local_presence, redis):
    """Nor does a new process's first connection (its key was never set)."""
    await presence.register("CP-ONE", 1, 1)
    assert not local_presence.republish
    await presence.flush(store_last_seen=no_store)
    await presence.register("CP-TWO", 2, 2)
    presence.touch("CP-ONE")
    await presence.flush(store_last_seen=no_store)
    assert not local_presence.republish


def test_pruning_leaves_an_entry_written_again_since_it_was_read(redis, settings, monkeypatch):
    """A reader removes the entries of dead processes a step after reading
    them: a station that connected to a live process in between keeps its
    new entry (its commands would be refused); a dead one's goes."""
    settings.REDIS_URL = redis.url
    now = time.time()
    for station_id in ("CP-MOVED", "CP-DEAD"):
        other_process_holds(redis, station_id, since=now, alive=False)
    newer = {"station_id": "CP-MOVED", "conn": 9, "since": now + 1, "last_seen": now + 1, "process": "live"}

    class MovedMeanwhile(redis_py.Redis):
        def mget(self, *args, **kwargs):
            found = super().mget(*args, **kwargs)
            # Between the reader's read and its removal, the station connects anew.
            self.hset(presence.HASH_KEY, "CP-MOVED", json.dumps(newer))
            self.set(presence.PROCESS_KEY.format("live"), "1", ex=30)
            return found

    monkeypatch.setattr(presence, "_redis_sync", lambda: MovedMeanwhile(port=redis.port))
    assert presence.connections() == []  # both read as a dead process's

    assert held_by(redis, "CP-MOVED") == newer
    assert held_by(redis, "CP-DEAD") is None
