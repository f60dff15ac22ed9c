"""The station's socket, `ws://HOST/ws/{station_id}`: a plain ASGI app that
adapts the WebSocket to `CentralSystem` (an `ocpp` ChargePoint) and runs the
station's commands, one call in flight.

Lean on purpose (a box holds tens of thousands of these): no Channels
consumer, no channel of its own, no group. Frames are read by the receive
loop itself: replies to our calls are routed there at once, the station's
calls are handled one at a time in order, each in a short task of its own
(while it waits for its commit, the loop goes on reading replies); a command
task runs only while commands are pending. Commands from other processes come
through this process's one command queue (`commands.serve_process_queue`).
"""

import asyncio
import base64
import binascii
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from ocpp.messages import CallError

from evpower import logs
from evpower.clock import utcnow
from ocpp_gateway import commands, housekeeping, live_feed, metrics, presence
from ocpp_gateway.chargepoint import CallNotSent, CentralSystem, ConnectionClosed
from ocpp_gateway.commands import DISCONNECTED, NOT_CONNECTED, STATION_ERROR, TIMEOUT
from ocpp_gateway.conf import gateway_settings
from ocpp_gateway.runtime import committer, runtime
from stations.commands_state import command_result_apply, command_result_recorded
from stations.models import station_id_valid
from stations.registry import (
    StationRef,
    station_for_connection,
    station_password_ok,
    stations_for_connection,
    stations_last_seen_update,
)
from stations.reports import BootAnswer

logger = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
# Password hashing is slow by design; keep it off the event loop and off the
# writer thread.
_auth_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocpp-auth")
MAX_QUEUED_FRAMES = 100


def _is_reply(text: str) -> bool:
    """Whether a frame is a CALLRESULT or CALLERROR (message type 3 or 4),
    from its first characters (no parse; anything else is routed as a call)."""
    head = text[:16].lstrip()
    return head[:1] == "[" and head[1:].lstrip()[:1] in ("3", "4")


def basic_credentials(scope) -> tuple[str, str] | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, encoded = value.decode("latin-1").partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                user, sep, password = (
                    base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                return None
            return (user, password) if sep else None
    return None


async def _best_effort(awaitable, what: str):
    """Await a presence step; its result, or None (logged) if it failed."""
    try:
        return await asyncio.wait_for(awaitable, timeout=5)
    except TimeoutError:
        # No traceback: in an overloaded storm there are thousands, and
        # formatting each one's cost the busy process more of its time.
        metrics.channel_layer_errors.labels(what).inc()
        logger.warning("Station connection: %s took over 5 s (Redis or this process overloaded)", what)
        return None
    except Exception:
        metrics.channel_layer_errors.labels(what).inc()
        logger.warning("Station connection: %s failed (Redis down?)", what, exc_info=True)
        return None


def _last_seen_store(seen: dict) -> None:
    committer().submit(lambda batch: stations_last_seen_update(seen=seen))


def _presence_settle(conflicts: presence.Conflicts) -> None:
    """After a presence flush found a station held elsewhere (Redis back after
    an outage, or a reconnect racing the flush): close this process's
    connections that a newer one in another process superseded, and tell the
    processes whose older connections ours superseded."""
    links = {link.station.station_id: link for link in runtime.connections.values()}
    for station_id, conn in conflicts.stale:
        link = links.get(station_id)
        if link is not None and link.conn == conn:
            link.replaced()
    for entry in conflicts.replaced:
        link = links.get(entry["station_id"])
        if link is not None:
            commands.replaced_notify(entry["process"], link.station.pk, entry.get("conn", 0))


def _background_tasks_ensure() -> None:
    """What a process with stations runs beside them (started with the first)."""
    runtime.keep_running(
        "presence-flush",
        lambda: presence.flush_forever(store_last_seen=_last_seen_store, settle=_presence_settle),
    )
    runtime.keep_running("housekeeping", housekeeping.forever)
    runtime.keep_running("dashboard-watch", live_feed.poll_forever)
    commands.process_queue_ensure()


async def _station_lookup(station_id: str) -> StationRef | None:
    """The connecting station (registered per policy), or None (refuse).

    Lookups that arrive together (a reconnect storm) share one query on the
    writer's reader thread (not behind its commits), instead of one hop each."""
    loop = asyncio.get_running_loop()
    pending = runtime.lookups.get(loop)
    if pending is None:
        pending = runtime.lookups[loop] = {}
        runtime.keep_running("station-lookups", partial(_lookups_run, loop))
    future = loop.create_future()
    pending.setdefault(station_id, []).append(future)
    return await future


async def _lookups_run(loop: asyncio.AbstractEventLoop) -> None:
    while pending := runtime.lookups.pop(loop, None):
        try:
            # Known stations (all of them, in a storm) in one query ...
            found = await committer().read(
                partial(stations_for_connection, station_ids=list(pending), unknown_policy="reject")
            )
        except Exception as exc:
            for futures in pending.values():
                _settle(futures, exc=exc)
            continue
        unknown = []
        for station_id, futures in pending.items():
            if found.get(station_id) is not None:
                _settle(futures, result=found[station_id])
            else:
                unknown.append(station_id)
        for station_id in unknown:
            # ... new ones registered (per policy) each on its own, answered as
            # soon as it is, not all behind the slowest nor holding up the next
            # batch: the server drops a handshake that waits too long (Daphne:
            # 5 s). (The writer thread's future holds the task.)
            loop.create_task(_register(station_id, pending[station_id]))


async def _register(station_id: str, futures: list[asyncio.Future]) -> None:
    try:
        station = await committer().call(
            partial(
                station_for_connection,
                station_id=station_id,
                unknown_policy=gateway_settings.UNKNOWN_STATIONS,
            )
        )
    except Exception as exc:
        _settle(futures, exc=exc)
    else:
        _settle(futures, result=station)


def _settle(futures: list[asyncio.Future], result=None, exc: BaseException | None = None) -> None:
    for future in futures:
        if not future.done():
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)


async def _admitted(scope, station_id: str) -> StationRef | None:
    """The station if it may connect now, else None (the reason logged)."""
    if not station_id_valid(station_id):
        logger.warning(
            "Station connection refused: invalid station id %r",
            station_id,
            extra={"reason": "invalid_station_id"},
        )
        return None
    offered = scope.get("subprotocols", [])
    if SUBPROTOCOL not in offered:
        logger.warning(
            "Station %s refused: subprotocol %s not offered (offered: %s)",
            station_id,
            SUBPROTOCOL,
            ", ".join(offered) or "no subprotocol",
            extra={"reason": "subprotocol_not_offered"},
        )
        return None
    station = await _station_lookup(station_id)
    if station is None:
        logger.warning(
            "Station %s refused: unknown station id (unknown stations are rejected)",
            station_id,
            extra={"reason": "unknown_station"},
        )
        return None
    if station.password_hash:
        credentials = basic_credentials(scope)
        ok = credentials is not None and credentials[0] == station_id
        if ok:
            ok = await asyncio.get_running_loop().run_in_executor(
                _auth_pool, station_password_ok, station.password_hash, credentials[1]
            )
        if not ok:
            logger.warning(
                "Station %s refused: bad or missing credentials",
                station_id,
                extra={"reason": "bad_credentials"},
            )
            return None
    return station


async def station_app(scope, receive, send) -> None:
    """The ASGI app of one station's socket (routed with `station_id`)."""
    if (await receive())["type"] != "websocket.connect":
        return
    station_id = scope["url_route"]["kwargs"]["station_id"]
    # On every line this connection logs (and the tasks it starts).
    logs.bind(station_id=station_id)
    station = await _admitted(scope, station_id)
    if station is None:
        await send({"type": "websocket.close"})  # refused at the handshake (403)
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    client = scope.get("client") or ("?", "?")
    logger.info("Station %s connected from %s:%s", station_id, *client[:2])
    link = StationLink(station, send)
    await link.opened()
    try:
        await link.converse(receive)
    finally:
        await link.ended()


class StationLink:
    """One station's open socket: what `CentralSystem` sends through
    (`send`), and the station's command queue (one call in flight)."""

    __slots__ = (
        "_command_task",
        "_commands",
        "_handling",
        "_send",
        "_status_timer",
        "closed",
        "conn",
        "cp",
        "loop",
        "station",
    )

    def __init__(self, station: StationRef, send) -> None:
        self.station = station
        self.conn = next(runtime.connection_numbers)
        self.loop = asyncio.get_running_loop()
        self._send = send
        self.cp = CentralSystem(station, self, on_boot=self._after_boot)
        # True once the socket closes or we close it: nothing more is sent.
        self.closed = False
        self._commands: deque | None = None
        self._command_task: asyncio.Task | None = None
        # The station's CALL being handled (see `converse`).
        self._handling: asyncio.Task | None = None
        self._status_timer: asyncio.TimerHandle | None = None

    # What CentralSystem talks to ------------------------------------------------

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosed()
        await self._send({"type": "websocket.send", "text": text})

    # The socket's life -----------------------------------------------------------

    async def opened(self) -> None:
        """Hold the station in this process: replace an older connection (here
        or in another process) and record presence in one Redis round trip.

        Redis down must not stop charging: the station still talks OCPP and its
        transactions are stored; presence is written again once Redis is back."""
        older = runtime.connections.get(self.station.pk)
        runtime.connections[self.station.pk] = self
        if older is not None:
            older.replaced()
        replaced = await _best_effort(
            presence.register(self.station.station_id, self.conn, self.station.pk), "registering presence"
        )
        if replaced is not None:
            commands.replaced_notify(replaced["process"], self.station.pk, replaced.get("conn", 0))
        _background_tasks_ensure()
        live_feed.station_changed(self.station.pk)

    async def converse(self, receive) -> None:
        """Handle the station's frames in order until its socket closes."""
        # The server's own buffer of frames we have not taken yet (Daphne's and
        # the test communicator's is an asyncio.Queue; Uvicorn's websockets
        # stops reading the socket instead, so there is nothing to count).
        buffer = getattr(receive, "__self__", None)
        backlog = buffer.qsize if isinstance(buffer, asyncio.Queue) else None
        station_id = self.station.station_id
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            if message["type"] != "websocket.receive" or self.closed:
                continue
            text = message.get("text")
            if text is None:
                data = message.get("bytes") or b""
                if len(data) > gateway_settings.MAX_FRAME_BYTES:
                    await self.close(1009)
                    continue
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = "\x00"  # not JSON: answered with FormationViolation
            elif len(text) > gateway_settings.MAX_FRAME_BYTES // 4 and (
                len(text.encode()) > gateway_settings.MAX_FRAME_BYTES
            ):
                await self.close(1009)
                continue
            if backlog is not None and backlog() >= MAX_QUEUED_FRAMES:
                # OCPP-J allows one call at a time; a station this far ahead of
                # our answers is flooding, and must not grow memory without bound.
                logger.warning("%s: %d frames unanswered, closing", station_id, MAX_QUEUED_FRAMES)
                await self.close(1008)
                continue
            presence.touch(station_id)
            if _is_reply(text):
                # The answer to one of our calls: routed at once, even while the
                # station's own call waits for its commit (a command's reply
                # queued behind that wait was most of its round trip under load).
                await self._route(text)
                continue
            if self._handling is not None:
                await self._handling  # the station's calls one at a time, in order
            self._handling = self.loop.create_task(self._handle(text, utcnow()))
        if self._handling is not None:
            await self._handling

    async def _handle(self, text: str, received_at) -> None:
        """The station's own call, as `_handling` until it is answered."""
        try:
            await self._route(text, received_at)
        finally:
            # Let go at once: kept until the station's next frame, each
            # station's finished task (its coroutines, its futures) outlived
            # the young collections and was walked by the older ones (2,000
            # stations sampling every 1.2 s: 500-1,400 in generation 1).
            self._handling = None

    async def _route(self, text: str, received_at=None) -> None:
        try:
            await self.cp.route_message(text, received_at)
        except ConnectionClosed:
            pass
        except Exception:
            # Whatever a station sends must not end its conversation.
            logger.exception("%s: failed to handle frame", self.station.station_id)

    async def close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code})

    def replaced(self) -> None:
        """A newer connection of the station (here or elsewhere) took over, or
        the station was deleted: close with 4000."""
        if self.closed:
            return
        logger.info("%s: replaced by a new connection", self.station.station_id)
        if runtime.connections.get(self.station.pk) is self:
            del runtime.connections[self.station.pk]
        self.loop.create_task(self.close(4000))

    async def ended(self) -> None:
        self.closed = True
        self.cp.fail_pending()  # the call in flight: disconnected
        if self._status_timer is not None:
            self._status_timer.cancel()
        while self._commands:
            await self._answer(
                self._commands.popleft(), {"type": "ocpp.command.result", "status": NOT_CONNECTED}
            )
        if runtime.connections.get(self.station.pk) is self:
            del runtime.connections[self.station.pk]
        await _best_effort(presence.unregister(self.station.station_id, self.conn), "presence")
        live_feed.station_changed(self.station.pk)

    # Commands ------------------------------------------------------------------

    def queued(self) -> int:
        """Commands waiting to be sent (as `command` counts places)."""
        return len(self._commands) if self._commands else 0

    def command(self, action: str, payload: dict, timeout: float | None, reply) -> int:
        """Queue a call; `reply` is a Future, a reply channel or None. Returns
        its place in the queue (1: next), or 0 if the socket is closed."""
        if self.closed:
            return 0
        if self._commands is None:
            self._commands = deque()
        self._commands.append((action, payload, timeout, reply))
        if self._command_task is None:
            self._command_task = self.loop.create_task(self._run_commands())
        return len(self._commands)

    async def _run_commands(self) -> None:
        try:
            while self._commands:
                item = self._commands.popleft()
                reply = item[3]
                if isinstance(reply, asyncio.Future) and reply.done():
                    continue  # its caller gave up before it was sent
                await self._answer(item, await self._execute(*item[:3]))
        finally:
            self._command_task = None
            self._commands = None

    async def _answer(self, item: tuple, result: dict) -> None:
        reply = item[3]
        if isinstance(reply, asyncio.Future):
            if not reply.done():
                reply.set_result(result)
        elif reply:
            await commands.reply_send(reply, result)

    async def _execute(self, action: str, payload: dict, timeout: float | None) -> dict:
        timeout = timeout or gateway_settings.CALL_TIMEOUT
        started = time.monotonic()
        try:
            reply = await self.cp.call_raw(action, payload, timeout)
        except TimeoutError:
            metrics.command_latency.labels(action, TIMEOUT).observe(time.monotonic() - started)
            return {"type": "ocpp.command.result", "status": TIMEOUT}
        except CallNotSent:
            metrics.command_latency.labels(action, NOT_CONNECTED).observe(time.monotonic() - started)
            return {"type": "ocpp.command.result", "status": NOT_CONNECTED}
        except ConnectionClosed:
            metrics.command_latency.labels(action, DISCONNECTED).observe(time.monotonic() - started)
            return {"type": "ocpp.command.result", "status": DISCONNECTED}
        outcome = STATION_ERROR if isinstance(reply, CallError) else "ok"
        metrics.command_latency.labels(action, outcome).observe(time.monotonic() - started)
        if isinstance(reply, CallError):
            return {
                "type": "ocpp.command.result",
                "status": STATION_ERROR,
                "error_code": reply.error_code,
                "error_description": reply.error_description,
                "error_details": reply.error_details,
            }
        if command_result_recorded(action):
            # Recorded before the caller hears of it, so that what it reads next
            # (configuration, charging profiles, local list) already says so.
            # The others answer at once: waiting for the writer's next commit
            # was most of a command's round trip under MeterValues load.
            try:
                await committer().run(
                    lambda b: command_result_apply(
                        batch=b,
                        station_pk=self.station.pk,
                        action=action,
                        request=payload,
                        response=reply.payload,
                    )
                )
            except Exception:
                logger.exception("%s: recording the %s result failed", self.station.station_id, action)
        return {"type": "ocpp.command.result", "status": "ok", "response": reply.payload}

    # After boot ------------------------------------------------------------------

    def _after_boot(self, answer: BootAnswer, boot: dict) -> None:
        """What an operator expects once a station is accepted: its connectors'
        status and (unless we know it) its configuration, asked for without
        blocking its own messages."""
        logger.info(
            "Station %s booted: vendor %r, model %r, firmware %r; answered %s",
            self.station.station_id,
            boot.get("chargePointVendor"),
            boot.get("chargePointModel"),
            boot.get("firmwareVersion"),
            answer.status,
        )
        if answer.status != "Accepted":
            return
        if answer.configuration_stale:
            self.command("GetConfiguration", {}, None, None)
        if self._status_timer is not None:
            self._status_timer.cancel()  # booted again: the grace period starts anew
        self._status_timer = self.loop.call_later(
            gateway_settings.STATUS_TRIGGER_DELAY,
            self._ask_status_unless_reported,
            self.cp.status_notifications,
        )

    def _ask_status_unless_reported(self, seen: int) -> None:
        """Most stations report their connectors right after boot by themselves;
        ask only one that stayed silent (our request would meet an operator's)."""
        self._status_timer = None
        if self.cp.status_notifications == seen:
            self.command("TriggerMessage", {"requestedMessage": "StatusNotification"}, None, None)
