"""How a command finds the station's socket: directly when this process holds
it, through the holding process's command queue when another does, and
not at all (at once) when presence names a process that died."""

import asyncio
import json
import socket
import time

import pytest
import redis.asyncio as aredis
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ocpp_gateway import commands, presence
from ocpp_gateway.commands import CommandFailed
from ocpp_gateway.runtime import committer, runtime
from stations.models import MessageLog, Station

pytestmark = pytest.mark.django_db(transaction=True)

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="other processes need Redis")


class _Address:
    def __init__(self, pk: int, station_id: str):
        self.pk, self.station_id = pk, station_id


async def _answer_next_call(station, payload: dict) -> list:
    frame = json.loads(await station.comm.receive_from(timeout=5))
    assert frame[0] == 2
    await station.comm.send_to(text_data=json.dumps([3, frame[1], payload]))
    return frame


async def test_a_command_to_a_station_of_this_process_needs_no_channel_layer(raw_station, monkeypatch):
    def no_layer():
        raise AssertionError("the channel layer was used")

    monkeypatch.setattr(commands, "get_channel_layer", no_layer)
    station = await raw_station("CP-HERE")
    pk = await Station.objects.filter(station_id="CP-HERE").values_list("pk", flat=True).aget()

    sent = asyncio.create_task(
        commands.command_send(station=_Address(pk, "CP-HERE"), action="ClearCache", payload={})
    )
    frame = await _answer_next_call(station, {"status": "Accepted"})

    assert frame[2] == "ClearCache"
    assert await sent == {"status": "Accepted"}


async def test_an_answered_call_keeps_nothing_of_itself(raw_station):
    # Nothing can follow its reply: no entry (and no timer) per command sent.
    station = await raw_station("CP-DONE")
    pk = await Station.objects.filter(station_id="CP-DONE").values_list("pk", flat=True).aget()
    sent = asyncio.create_task(
        commands.command_send(station=_Address(pk, "CP-DONE"), action="ClearCache", payload={})
    )
    await _answer_next_call(station, {"status": "Accepted"})
    assert await sent == {"status": "Accepted"}
    assert runtime.connections[pk].cp._pending_action == {}


async def test_a_reply_after_the_timeout_is_logged_with_its_action(raw_station):
    station = await raw_station("CP-SLOW")
    pk = await Station.objects.filter(station_id="CP-SLOW").values_list("pk", flat=True).aget()
    sent = asyncio.create_task(
        commands.command_send(station=_Address(pk, "CP-SLOW"), action="ClearCache", payload={}, timeout=0.2)
    )
    call = json.loads(await station.comm.receive_from(timeout=5))
    with pytest.raises(CommandFailed):
        await sent
    await station.comm.send_to(text_data=json.dumps([3, call[1], {"status": "Accepted"}]))
    assert (await station.call("Heartbeat", {}))[0] == 3  # the late reply was taken first
    await committer().drain()
    reply = MessageLog.objects.filter(unique_id=call[1], direction="in")
    assert await reply.values_list("message_type", "action").aget() == ("CALLRESULT", "ClearCache")


async def test_commands_to_one_station_go_one_at_a_time(raw_station):
    station = await raw_station("CP-QUEUE")
    pk = await Station.objects.filter(station_id="CP-QUEUE").values_list("pk", flat=True).aget()
    address = _Address(pk, "CP-QUEUE")

    first = asyncio.create_task(commands.command_send(station=address, action="ClearCache", payload={}))
    second = asyncio.create_task(
        commands.command_send(station=address, action="Reset", payload={"type": "Soft"})
    )
    call = json.loads(await station.comm.receive_from(timeout=5))
    assert call[2] == "ClearCache"
    # The second is not sent before the first is answered.
    assert await station.comm.receive_nothing(timeout=0.3)
    await station.comm.send_to(text_data=json.dumps([3, call[1], {"status": "Accepted"}]))
    call = await _answer_next_call(station, {"status": "Rejected"})
    assert call[2] == "Reset"

    assert await first == {"status": "Accepted"}
    assert await second == {"status": "Rejected"}


async def test_a_replaced_notice_closes_only_the_connection_it_names(raw_station):
    station = await raw_station("CP-NOTICE")
    pk = await Station.objects.filter(station_id="CP-NOTICE").values_list("pk", flat=True).aget()
    link = runtime.connections[pk]

    await commands._process_message({"type": "ocpp.replaced", "stations": [[pk, link.conn + 1]]})
    assert (await station.call("Heartbeat", {}))[0] == 3

    await commands._process_message({"type": "ocpp.replaced", "stations": [[pk, link.conn]]})
    assert await station.comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4000}
    assert pk not in runtime.connections


def _reset_from_elsewhere(pk: int, station_id: str, reply_to: str, *, deadline: float) -> dict:
    """A Hard Reset as another process queues it for this one (its take deadline given)."""
    return {
        "type": "ocpp.command",
        "pk": pk,
        "station_id": station_id,
        "action": "Reset",
        "payload": {"type": "Hard"},
        "reply_to": reply_to,
        "timeout": 5,
        "deadline": deadline,
    }


async def _holder_accepts(reply_to: str) -> None:
    """Play the process holding the station: acknowledge the command, then
    answer it with the station's Accepted."""
    layer = get_channel_layer()
    await layer.send(reply_to, {"type": "ocpp.command.queued", "position": 1})
    await layer.send(
        reply_to, {"type": "ocpp.command.result", "status": "ok", "response": {"status": "Accepted"}}
    )


@needs_redis
async def test_a_stale_presence_entry_of_a_dead_process_is_not_connected_at_once():
    client = runtime.redis()
    entry = {"station_id": "CP-GHOST", "conn": 1, "since": 0, "last_seen": 0, "process": "dead-1"}
    await client.hset(presence.HASH_KEY, "CP-GHOST", json.dumps(entry))
    try:
        started = time.monotonic()
        with pytest.raises(CommandFailed) as failed:
            await commands.command_send(
                station=_Address(999_999, "CP-GHOST"), action="ClearCache", payload={}
            )
        assert failed.value.reason == "not_connected"
        assert time.monotonic() - started < commands.ACK_TIMEOUT / 2  # not found by a missing ack
    finally:
        await client.hdel(presence.HASH_KEY, "CP-GHOST")


@needs_redis
async def test_a_command_reaches_a_station_held_by_another_process():
    """The other process is played here: its liveness key, its presence entry,
    and its queue, from which it acknowledges and answers over the layer."""
    client = runtime.redis()
    other = "other-process-1"
    await client.set(presence.PROCESS_KEY.format(other), "1", ex=30)
    entry = {"station_id": "CP-THERE", "conn": 7, "since": 0, "last_seen": 0, "process": other}
    await client.hset(presence.HASH_KEY, "CP-THERE", json.dumps(entry))
    queue = commands.QUEUE_KEY.format(other)
    try:
        sent = asyncio.create_task(
            commands.command_send(station=_Address(42, "CP-THERE"), action="ClearCache", payload={})
        )
        _, raw = await client.blpop([queue], timeout=5)
        message = json.loads(raw)
        assert (message["type"], message["pk"], message["station_id"], message["action"]) == (
            "ocpp.command",
            42,
            "CP-THERE",
            "ClearCache",
        )
        await _holder_accepts(message["reply_to"])
        assert await asyncio.wait_for(sent, 5) == {"status": "Accepted"}
    finally:
        await client.delete(presence.PROCESS_KEY.format(other), queue)
        await client.hdel(presence.HASH_KEY, "CP-THERE")


@pytest.fixture
async def other_queue(monkeypatch):
    """A live process "other-process-2" holding CP-SLOW, whose queue nothing
    reads unless the test does; the ack timeout is shortened to 0.5 s."""
    monkeypatch.setattr(commands, "ACK_TIMEOUT", 0.5)
    client = runtime.redis()
    other = "other-process-2"
    await client.set(presence.PROCESS_KEY.format(other), "1", ex=30)
    entry = {"station_id": "CP-SLOW", "conn": 3, "since": 0, "last_seen": 0, "process": other}
    await client.hset(presence.HASH_KEY, "CP-SLOW", json.dumps(entry))
    queue = commands.QUEUE_KEY.format(other)
    yield queue
    await client.delete(presence.PROCESS_KEY.format(other), queue)
    await client.hdel(presence.HASH_KEY, "CP-SLOW")


@needs_redis
async def test_a_command_no_process_takes_in_time_is_withdrawn_and_not_connected(other_queue):
    """409 promises that no CALL was sent: the command must not stay in the
    queue for the holder to send later."""
    client = runtime.redis()
    with pytest.raises(CommandFailed) as failed:
        await commands.command_send(station=_Address(43, "CP-SLOW"), action="Reset", payload={"type": "Soft"})
    assert failed.value.reason == "not_connected"
    assert await client.lrange(other_queue, 0, -1) == []


@needs_redis
async def test_a_command_taken_after_the_ack_timeout_is_answered_with_its_result(other_queue):
    client = runtime.redis()
    started = time.monotonic()
    sent = asyncio.create_task(
        commands.command_send(station=_Address(43, "CP-SLOW"), action="Reset", payload={"type": "Soft"})
    )
    _, raw = await client.blpop([other_queue], timeout=5)  # taken, but acknowledged late
    await asyncio.sleep(commands.ACK_TIMEOUT + 0.5)
    await _holder_accepts(json.loads(raw)["reply_to"])

    assert await asyncio.wait_for(sent, 5) == {"status": "Accepted"}
    assert time.monotonic() - started > commands.ACK_TIMEOUT


@needs_redis
async def test_a_command_taken_but_never_answered_is_a_timeout_not_not_connected(other_queue):
    client = runtime.redis()
    sent = asyncio.create_task(
        commands.command_send(
            station=_Address(43, "CP-SLOW"), action="Reset", payload={"type": "Soft"}, timeout=0.5
        )
    )
    await client.blpop([other_queue], timeout=5)  # taken; then the process goes silent

    with pytest.raises(CommandFailed) as failed:
        await asyncio.wait_for(sent, 10)
    assert failed.value.reason == "timeout"


async def test_a_command_taken_after_its_deadline_is_never_sent(raw_station):
    """The sender gives up on a command not acknowledged in time; its holder,
    finding it late in its queue, must not send it after all."""
    station = await raw_station("CP-LATE")
    pk = await Station.objects.filter(station_id="CP-LATE").values_list("pk", flat=True).aget()
    layer = get_channel_layer()
    reply_to = await layer.new_channel()

    await commands._process_message(
        _reset_from_elsewhere(pk, "CP-LATE", reply_to, deadline=time.time() - 0.1)
    )

    assert await station.comm.receive_nothing(timeout=0.5)
    assert (await asyncio.wait_for(layer.receive(reply_to), 2))["status"] == "not_connected"


async def test_a_command_whose_ack_went_out_too_late_is_not_sent(raw_station, monkeypatch):
    """The holder took the command in time, but its ack reached the channel
    layer so late that the sender may have given up (its take-back failed):
    not sent, and the sender hears "not connected" if it still listens."""
    station = await raw_station("CP-SLOW-ACK")
    pk = await Station.objects.filter(station_id="CP-SLOW-ACK").values_list("pk", flat=True).aget()
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    real_reply_send = commands.reply_send

    async def slow_ack(channel, message):
        if message["type"] == "ocpp.command.queued":
            await asyncio.sleep(0.4)  # past deadline + slack below
        return await real_reply_send(channel, message)

    monkeypatch.setattr(commands, "reply_send", slow_ack)
    monkeypatch.setattr(commands, "ACK_SLACK", 0.1)
    await commands._process_message(
        _reset_from_elsewhere(pk, "CP-SLOW-ACK", reply_to, deadline=time.time() + 0.1)
    )

    assert await station.comm.receive_nothing(timeout=0.5)
    assert (await asyncio.wait_for(layer.receive(reply_to), 2))["type"] == "ocpp.command.queued"
    assert (await asyncio.wait_for(layer.receive(reply_to), 2))["status"] == "not_connected"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@needs_redis
async def test_a_take_back_that_fails_is_not_connected_and_the_command_never_sent_later(
    raw_station, monkeypatch
):
    """Redis fails just as the sender withdraws an unacknowledged command: the
    command stays in the holder's queue, but is past its take deadline. This
    process plays the holder (its station's link hidden while the command is
    sent, so it goes through the queue); Redis "down" is a real client of a
    port where nothing listens."""
    monkeypatch.setattr(commands, "ACK_TIMEOUT", 0.5)
    station = await raw_station("CP-TAKEBACK")
    pk = await Station.objects.filter(station_id="CP-TAKEBACK").values_list("pk", flat=True).aget()
    loop = asyncio.get_running_loop()
    client = runtime.redis()
    other = "other-process-4"
    queue = commands.QUEUE_KEY.format(other)
    await client.delete(queue)
    await client.set(presence.PROCESS_KEY.format(other), "1", ex=30)
    entry = {"station_id": "CP-TAKEBACK", "conn": 1, "since": 0, "last_seen": 0, "process": other}
    await client.hset(presence.HASH_KEY, "CP-TAKEBACK", json.dumps(entry))
    link = runtime.connections.pop(pk)
    try:
        sent = asyncio.create_task(
            commands.command_send(
                station=commands.Address(pk, "CP-TAKEBACK"), action="Reset", payload={"type": "Hard"}
            )
        )
        while not await client.llen(queue):
            await asyncio.sleep(0.01)
        # No retries: redis-py's default backs off for seconds before it fails.
        runtime.redis_async[loop] = aredis.Redis(port=_closed_port(), retry=Retry(NoBackoff(), 0))
        with pytest.raises(CommandFailed) as failed:
            await asyncio.wait_for(sent, 5)
        assert failed.value.reason == "not_connected"
    finally:
        runtime.redis_async[loop] = client
        runtime.connections[pk] = link

    try:
        # Redis is back and the holder reads its queue: too late to send it.
        raw = await client.lpop(queue)
        assert raw is not None  # not withdrawn
        await commands._process_message(json.loads(raw))
        assert await station.comm.receive_nothing(timeout=0.5)
    finally:
        await client.delete(presence.PROCESS_KEY.format(other), queue)


async def test_a_station_held_here_is_found_by_id_without_the_database(raw_station):
    await raw_station("CP-BYID")
    pk = await Station.objects.filter(station_id="CP-BYID").values_list("pk", flat=True).aget()
    await Station.objects.filter(pk=pk).aupdate(station_id="CP-BYID-RENAMED")  # not asked: not seen

    assert await commands.station_connected("CP-BYID") == commands.Address(
        pk, "CP-BYID", held_by=presence.PROCESS_ID
    )
    assert await commands.station_connected("CP-NOWHERE") is None


@needs_redis
async def test_a_station_held_by_another_process_is_found_by_id_from_its_presence_entry():
    client = runtime.redis()
    other = "other-process-5"
    await client.set(presence.PROCESS_KEY.format(other), "1", ex=30)
    entry = {"station_id": "CP-YONDER", "pk": 77, "conn": 2, "since": 0, "last_seen": 0, "process": other}
    older = {"station_id": "CP-OLDER", "conn": 2, "since": 0, "last_seen": 0, "process": other}
    dead = {**entry, "station_id": "CP-DEAD", "process": "dead-process"}
    await client.hset(
        presence.HASH_KEY,
        mapping={"CP-YONDER": json.dumps(entry), "CP-OLDER": json.dumps(older), "CP-DEAD": json.dumps(dead)},
    )
    try:
        assert await commands.station_connected("CP-YONDER") == commands.Address(
            77, "CP-YONDER", held_by=other
        )
        assert await commands.station_connected("CP-OLDER") is None  # written before entries had pk
        assert await commands.station_connected("CP-DEAD") is None
    finally:
        await client.delete(presence.PROCESS_KEY.format(other))
        await client.hdel(presence.HASH_KEY, "CP-YONDER", "CP-OLDER", "CP-DEAD")


@needs_redis
async def test_a_command_goes_to_the_process_its_caller_just_saw_holding_the_station():
    """No second presence look-up: `held_by` (from `station_connected`) is used."""
    client = runtime.redis()
    other = "other-process-6"
    queue = commands.QUEUE_KEY.format(other)
    await client.delete(queue)
    address = commands.Address(78, "CP-SEEN", held_by=other)  # no presence entry at all
    sent = asyncio.create_task(commands.command_send(station=address, action="ClearCache", payload={}))
    try:
        _, raw = await client.blpop([queue], timeout=5)
        await _holder_accepts(json.loads(raw)["reply_to"])
        assert await asyncio.wait_for(sent, 5) == {"status": "Accepted"}
    finally:
        sent.cancel()
        await client.delete(queue)
