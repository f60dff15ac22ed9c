"""The one door to a station: commands to whichever process holds the
station's socket, answered with the station's reply.

A station held by this process is called directly; one held by another is
reached through that process's one command queue in Redis (`presence` knows
which process holds it), where `serve_process_queue` hands the command to the
connection and acknowledges it, over the channel layer, with its place in the
station's queue. A command not acknowledged in time is taken back from that
queue, so that "not connected" always means that no CALL was sent; if taking
it back fails (Redis down), its take deadline still keeps the holder from
sending it after the caller got its answer.

Everything that talks to a station goes through here (the API, sessions,
reservations, local lists, charging profiles, the limit stop), and every
failure is one `CommandFailed`. This module imports nothing of `billing` or
`stations`: a station is anything with `pk` and `station_id`.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from evpower.errors import DomainError, Kind
from ocpp_gateway import metrics, presence
from ocpp_gateway.conf import gateway_settings
from ocpp_gateway.runtime import runtime

logger = logging.getLogger(__name__)

# How long a live consumer may take to acknowledge a command. No ack means no
# process holds the station's socket (presence was stale), or the holder has
# not taken the command from its queue yet: see `_late_ack`.
ACK_TIMEOUT = 5.0


# How late after its take deadline an ack may still be sent (a slow channel
# layer) for the holder to go on and send the command.
ACK_SLACK = 1.0


def take_deadline(pushed: float) -> float:
    """The wall-clock time after which the holder no longer takes a command
    pushed at `pushed`: when the sender stops waiting for its ack and
    withdraws it. A holder late in reading its queue still serves it until
    then (a busy process in a storm); if the withdrawal fails (Redis down),
    the sender waits another ACK_TIMEOUT for an ack the holder may have sent
    up to ACK_SLACK after the deadline: the rest is for the hosts' clocks to
    differ."""
    return pushed + ACK_TIMEOUT


NOT_CONNECTED = "not_connected"  # no CALL was sent
TIMEOUT = "timeout"  # sent; the station stayed silent
DISCONNECTED = "disconnected"  # sent; the station went away before replying
STATION_ERROR = "station_error"  # the station answered CALLERROR


class StationAddress(Protocol):
    pk: int
    station_id: str


@dataclass(frozen=True)
class Address:
    """A StationAddress from its two parts, where no Station is at hand;
    `held_by`: the process seen holding it just now, if looked up."""

    pk: int
    station_id: str
    held_by: str | None = None


class CommandFailed(DomainError):
    """The station's CALLRESULT did not come; `reason` says why (see above)."""

    _KINDS = {
        NOT_CONNECTED: Kind.CONFLICT,
        TIMEOUT: Kind.STATION_TIMEOUT,
        DISCONNECTED: Kind.STATION_TIMEOUT,
        STATION_ERROR: Kind.STATION_ERROR,
    }
    _DETAILS = {
        NOT_CONNECTED: "The station is not connected.",
        TIMEOUT: "The station did not answer in time.",
        DISCONNECTED: "The station received the command and disconnected before answering.",
    }

    def __init__(self, reason: str, error_code: str = "", error_description: str = "", error_details=None):
        self.reason = reason
        self.kind = self._KINDS[reason]
        self.error_code = error_code
        self.error_description = error_description
        self.error_details = error_details or {}
        if reason == STATION_ERROR:
            extra = {"error_code": error_code, "error_description": error_description}
            super().__init__(reason, f"{error_code}: {error_description}", extra)
        else:
            super().__init__(reason, self._DETAILS[reason])


async def command_send(*, station: StationAddress, action: str, payload: dict, timeout: float | None = None):
    """Send `action` to the station and return its CALLRESULT payload.

    `timeout` counts from when the call is actually sent, not time queued
    behind other calls. Raises CommandFailed."""
    timeout = timeout or gateway_settings.CALL_TIMEOUT
    link = runtime.connections.get(station.pk)
    if link is not None:
        result = await _local_command(link, action, payload, timeout)
    else:
        result = await _remote_command(station, action, payload, timeout)
    if result.get("status") == "ok":
        return result["response"]
    raise CommandFailed(
        result.get("status", DISCONNECTED),
        result.get("error_code", ""),
        result.get("error_description", ""),
        result.get("error_details") or {},
    )


async def station_connected(station_id: str) -> Address | None:
    """The station if some process holds its socket now, found without the
    database (a connected station exists); None if none does, or Redis
    cannot say (the caller asks the database, and `command_send` finds out)."""
    try:
        found = await presence.held(station_id)
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        return None
    return None if found is None else Address(found[0], station_id, held_by=found[1])


def _bound(timeout: float, position: int) -> float:
    """How long a command queued at `position` may take in all: each call
    ahead of it may take up to its own timeout."""
    return (timeout + 1) * max(1, position) + ACK_TIMEOUT


async def _local_command(link, action: str, payload: dict, timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    if link.loop is not loop:
        # A sync caller outside the server's loop (tests, management commands).
        if link.loop.is_closed():
            raise CommandFailed(NOT_CONNECTED)
        future = asyncio.run_coroutine_threadsafe(_local_command(link, action, payload, timeout), link.loop)
        return await asyncio.wrap_future(future)
    future = loop.create_future()
    position = link.command(action, payload, timeout, future)
    if not position:
        raise CommandFailed(NOT_CONNECTED)
    try:
        return await asyncio.wait_for(future, _bound(timeout, position))
    except TimeoutError:
        raise CommandFailed(TIMEOUT) from None


async def _remote_command(station: StationAddress, action: str, payload: dict, timeout: float) -> dict:
    try:
        # Looked up by the caller a moment ago (`station_connected`), or now.
        process = getattr(station, "held_by", None) or await presence.holder(station.station_id)
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        raise
    if process is None or process == presence.PROCESS_ID:
        # No live process holds it (this one would have it in runtime.connections).
        raise CommandFailed(NOT_CONNECTED)
    layer = get_channel_layer()
    try:
        reply_to = await layer.new_channel()
        pushed = await _process_send(
            process,
            {
                "type": "ocpp.command",
                "pk": station.pk,
                "station_id": station.station_id,
                "action": action,
                "payload": payload,
                "reply_to": reply_to,
                "timeout": timeout,
                "deadline": take_deadline(time.time()),
            },
        )
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        raise
    try:
        ack = await asyncio.wait_for(layer.receive(reply_to), ACK_TIMEOUT)
    except TimeoutError:
        ack = await _late_ack(layer, process, pushed, reply_to, timeout)
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        raise
    if ack["type"] != "ocpp.command.queued":
        return ack
    try:
        return await asyncio.wait_for(layer.receive(reply_to), _bound(timeout, ack.get("position", 1)))
    except TimeoutError:
        raise CommandFailed(TIMEOUT) from None


async def _late_ack(layer, process: str, pushed: str, reply_to: str, timeout: float) -> dict:
    """No ack in time: take the command back from the holder's queue, or, if
    the holder took it already (late), wait for what it says after all.

    NOT_CONNECTED promises that no CALL was sent, so it is raised only when the
    holder can no longer send it: withdrawn, or past its take deadline with
    no ack (a holder sends only what it acknowledged)."""
    try:
        withdrawn = await runtime.redis().lrem(QUEUE_KEY.format(process), 1, pushed)
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        return await _ack_after_failed_withdrawal(layer, reply_to)
    if withdrawn:
        raise CommandFailed(NOT_CONNECTED)
    try:
        # Its ack, or its result if the ack was lost to the timeout above.
        return await asyncio.wait_for(layer.receive(reply_to), _bound(timeout, 1))
    except TimeoutError:
        raise CommandFailed(TIMEOUT) from None


async def _ack_after_failed_withdrawal(layer, reply_to: str) -> dict:
    """The command stays queued (Redis failed us), but its take deadline has
    passed: a holder that took it in time has acknowledged it by now, and
    none will take it later. Raises CommandFailed(NOT_CONNECTED) if no ack
    came; an error of the channel layer if that cannot be read either (503:
    the command was sent only if its holder acknowledged it in time)."""
    try:
        return await asyncio.wait_for(layer.receive(reply_to), ACK_TIMEOUT)
    except TimeoutError:
        raise CommandFailed(NOT_CONNECTED) from None
    except Exception:
        metrics.channel_layer_errors.labels("command").inc()
        raise


def station_command(*, station: StationAddress, action: str, payload: dict, timeout: float | None = None):
    """`command_send` for sync callers (services, views). Raises CommandFailed."""
    return async_to_sync(command_send)(station=station, action=action, payload=payload, timeout=timeout)


def station_disconnect(*, station: StationAddress) -> None:
    """Close every connection of the station, in whichever process (it was deleted)."""
    try:
        async_to_sync(_disconnect)(station)
    except Exception:
        logger.warning("Could not disconnect %s", station.station_id, exc_info=True)


async def _disconnect(station: StationAddress) -> None:
    link = runtime.connections.get(station.pk)
    if link is not None:
        link.loop.call_soon_threadsafe(link.replaced)
    process = await presence.holder(station.station_id)
    if process is not None and process != presence.PROCESS_ID:
        # conn 0: whichever connection of the station that process holds.
        await _process_send(process, {"type": "ocpp.replaced", "stations": [[station.pk, 0]]})


# The process queue -------------------------------------------------------------

# A Redis list per server process, not a channel-layer channel: channels-redis
# receives all of a process's channels in one blocking read that a
# long-lived receive would hold to itself, and its reads do not end promptly
# when cancelled. A message left for a process that died expires with it.
QUEUE_KEY = "evpower:commands:{}"
QUEUE_EXPIRY = 60
QUEUE_POLL_SECONDS = 1
# The longest pause between reads of the queue while Redis fails: well below
# ACK_TIMEOUT, so that a command sent as Redis comes back is still taken and
# acknowledged in time rather than withdrawn.
QUEUE_RETRY_SECONDS = 1.0


async def _process_send(process: str, message: dict) -> str:
    """Push `message` onto the process's queue; returns the JSON pushed (the
    value to withdraw it by)."""
    key = QUEUE_KEY.format(process)
    raw = json.dumps(message)
    pipe = runtime.redis().pipeline(transaction=False)
    pipe.rpush(key, raw)
    pipe.expire(key, QUEUE_EXPIRY)
    await pipe.execute()
    return raw


def replaced_notify(process: str, station_pk: int, conn: int) -> None:
    """Tell `process` that its connection `conn` of the station is replaced by
    one here. Sent in batches: after a restart thousands reconnect at once."""
    runtime.replace_notices.setdefault(process, []).append((station_pk, conn))
    runtime.keep_running("replace-notices", _replace_notices_send)


async def _replace_notices_send() -> None:
    while runtime.replace_notices:
        process, notices = runtime.replace_notices.popitem()
        for start in range(0, len(notices), 1000):
            try:
                await _process_send(
                    process, {"type": "ocpp.replaced", "stations": notices[start : start + 1000]}
                )
            except Exception:
                metrics.channel_layer_errors.labels("replaced").inc()
                logger.warning(
                    "Could not tell %s of %d replaced connections", process, len(notices), exc_info=True
                )
                break


async def reply_send(channel: str, message: dict) -> bool:
    """Answer a command from another process (best effort: it may have given
    up); whether the answer was delivered to the layer."""
    try:
        await get_channel_layer().send(channel, message)
    except Exception:
        metrics.channel_layer_errors.labels("reply").inc()
        logger.warning("Could not answer %s", channel, exc_info=True)
        return False
    return True


def process_queue_ensure() -> None:
    """Take commands for this process's stations from other processes (with Redis)."""
    if settings.REDIS_URL:
        runtime.keep_running("process-queue", serve_process_queue)


async def serve_process_queue() -> None:
    """Hand the commands and "replaced" notices sent to this process to its
    connections. Survives a Redis outage (retrying), after which the
    process's presence is written again (Redis may have come back empty)."""
    key = QUEUE_KEY.format(presence.PROCESS_ID)
    this = asyncio.current_task()
    failures = 0
    while True:
        if this.cancelling():
            # redis-py may swallow a cancellation that hits it while connecting.
            raise asyncio.CancelledError()
        try:
            popped = await runtime.redis().blpop([key], timeout=QUEUE_POLL_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.channel_layer_errors.labels("receive").inc()
            failures += 1
            if failures == 1:
                logger.warning(
                    "Channel layer unreachable (this process's command queue in Redis); retrying",
                    exc_info=True,
                )
            presence.republish_soon()
            await asyncio.sleep(min(0.2 * failures, QUEUE_RETRY_SECONDS))
            continue
        failures = 0
        if popped is None:
            continue
        try:
            await _process_message(json.loads(popped[1]))
        except Exception:
            logger.exception("Could not handle a message to this process")


async def _process_message(message: dict) -> None:
    if message["type"] == "ocpp.replaced":
        for pk, conn in message["stations"]:
            link = runtime.connections.get(pk)
            if link is not None and (not conn or link.conn == conn):
                link.replaced()
        return
    if message["type"] == "ocpp.command":
        await _command_take(message)


async def _command_take(message: dict) -> None:
    """Queue a command from another process on its station's connection, if
    it is still in time, and only once the sender can know: its ack goes
    first (see `_late_ack`)."""
    reply_to = message["reply_to"]
    link = runtime.connections.get(message["pk"])
    deadline = message.get("deadline", float("inf"))
    late = time.time() > deadline  # the sender gave up on it
    if link is None or link.station.station_id != message["station_id"] or link.closed or late:
        if late:
            logger.warning(
                "%s: a %s from another process found past its take deadline, not sent",
                message["station_id"],
                message["action"],
            )
        await reply_send(reply_to, {"type": "ocpp.command.result", "status": NOT_CONNECTED})
        return
    # Where it will be in the station's queue (the sender's bound on the wait):
    # commands of this process may join meanwhile, the ack's slack covers them.
    position = link.queued() + 1
    if not await reply_send(reply_to, {"type": "ocpp.command.queued", "position": position}):
        return  # not acknowledged: never sent, as the sender will conclude
    if time.time() > deadline + ACK_SLACK:
        # The ack took so long that the sender may have stopped waiting for
        # it (its take-back failed) and answered "not connected": not sent.
        await reply_send(reply_to, {"type": "ocpp.command.result", "status": NOT_CONNECTED})
        return
    if not link.command(message["action"], message["payload"], message["timeout"], reply_to):
        await reply_send(reply_to, {"type": "ocpp.command.result", "status": NOT_CONNECTED})
