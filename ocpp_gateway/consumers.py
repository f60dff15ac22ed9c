"""The Channels consumer for `ws://HOST/ws/{station_id}`: a thin adapter from
Channels to `CentralSystem` (an `ocpp` ChargePoint), plus the station's
command queue fed over the channel layer."""

import asyncio
import base64
import binascii
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from ocpp.messages import CallError

from evpower import logs
from ocpp_gateway import housekeeping, live_feed, metrics, presence
from ocpp_gateway.chargepoint import CallNotSent, CentralSystem, ConnectionClosed
from ocpp_gateway.commands import DISCONNECTED, NOT_CONNECTED, STATION_ERROR, TIMEOUT, station_group
from ocpp_gateway.conf import gateway_settings
from ocpp_gateway.runtime import committer, runtime
from stations.commands_state import command_result_apply
from stations.models import station_id_valid
from stations.registry import station_for_connection, station_password_ok, stations_last_seen_update

logger = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
# Password hashing is slow by design; keep it off the event loop and off the
# writer thread.
_auth_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocpp-auth")
_CLOSED = object()
MAX_QUEUED_FRAMES = 100


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


# Redis operations a connection makes as it comes and goes (join, presence,
# leave) run at most this many at once per process: channels-redis's pools,
# like redis-py's default one, fail past their size (MaxConnectionsError), so
# a reconnect storm of thousands used to leave stations out of their group.
REDIS_CONCURRENCY = 32


async def _best_effort(awaitable, what: str) -> bool:
    """Await a channel-layer or presence step; False (logged) if it failed."""
    try:
        async with runtime.redis_slot(REDIS_CONCURRENCY):
            await asyncio.wait_for(awaitable, timeout=5)
        return True
    except Exception:
        metrics.channel_layer_errors.labels(what).inc()
        logger.warning("Station connection: %s failed (channel layer or Redis down?)", what, exc_info=True)
        return False


def _last_seen_store(seen: dict) -> None:
    committer().submit(lambda batch: stations_last_seen_update(seen=seen))


def _background_tasks_ensure() -> None:
    """What a process with stations runs beside them (started with the first)."""
    runtime.keep_running("presence-flush", lambda: presence.flush_forever(store_last_seen=_last_seen_store))
    runtime.keep_running("housekeeping", housekeeping.forever)
    runtime.keep_running("dashboard-watch", live_feed.poll_forever)


class _Connection:
    """What `ocpp`'s ChargePoint talks to: `recv()` and `send()`."""

    def __init__(self, consumer: "StationConsumer"):
        self.consumer = consumer
        self.inbox: asyncio.Queue = asyncio.Queue()

    async def recv(self) -> str:
        raw = await self.inbox.get()
        if raw is _CLOSED:
            raise ConnectionClosed()
        return raw

    async def send(self, text: str) -> None:
        if self.consumer.closed:
            raise ConnectionClosed()
        await self.consumer.send(text_data=text)


class StationConsumer(AsyncWebsocketConsumer):
    station = None
    closed = False
    cp = None
    status_check = None
    rejoin_task = None

    async def connect(self):
        station_id = self.scope["url_route"]["kwargs"]["station_id"]
        # On every line this connection logs (the tasks started below inherit it).
        logs.bind(station_id=station_id)
        if not station_id_valid(station_id):
            logger.warning(
                "Station connection refused: invalid station id %r",
                station_id,
                extra={"reason": "invalid_station_id"},
            )
            await self.close()
            return
        offered = self.scope.get("subprotocols", [])
        if SUBPROTOCOL not in offered:
            logger.warning(
                "Station %s refused: subprotocol %s not offered (offered: %s)",
                station_id,
                SUBPROTOCOL,
                ", ".join(offered) or "no subprotocol",
                extra={"reason": "subprotocol_not_offered"},
            )
            await self.close()
            return
        station = await committer().call(
            partial(
                station_for_connection,
                station_id=station_id,
                unknown_policy=gateway_settings.UNKNOWN_STATIONS,
            )
        )
        if station is None:
            logger.warning(
                "Station %s refused: unknown station id (unknown stations are rejected)",
                station_id,
                extra={"reason": "unknown_station"},
            )
            await self.close()
            return
        if station.password_hash:
            credentials = basic_credentials(self.scope)
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
                await self.close()
                return
        self.station = station
        # Redis down must not stop charging: the station still talks OCPP and
        # its transactions are stored; only commands cannot reach it meanwhile.
        joined = await _best_effort(self._join(station), "joining the command group")
        await self.accept(SUBPROTOCOL)
        client = self.scope.get("client") or ("?", "?")
        logger.info("Station %s connected from %s:%s", station_id, *client[:2])
        registered = await _best_effort(
            presence.register(station_id, self.channel_name), "registering presence"
        )
        if not (joined and registered):
            # Without both the station charges but no command reaches it: keep
            # trying while it stays connected (a burst of reconnects may have
            # exhausted Redis connections for a moment).
            self.rejoin_task = asyncio.create_task(self._rejoin_until_reachable())
        _background_tasks_ensure()
        live_feed.station_changed(station.pk)

        self.connection = _Connection(self)
        self.cp = CentralSystem(station, self.connection, on_boot=self._after_boot)
        self.commands: asyncio.Queue = asyncio.Queue()
        self.cp_task = asyncio.create_task(self.cp.start())
        self.command_task = asyncio.create_task(self._run_commands())

    async def __call__(self, scope, receive, send):
        # AsyncConsumer.__call__, except that the channel layer's receive
        # survives a Redis outage instead of ending the station's connection.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = self._layer_receive
        self.base_send = send
        try:
            await await_many_dispatch([receive, self.channel_receive], self.dispatch)
        except StopConsumer:
            pass

    async def _layer_receive(self):
        failures = 0
        while True:
            try:
                return await self.channel_layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.channel_layer_errors.labels("receive").inc()
                failures += 1
                if failures == 1:
                    logger.warning("Channel layer unreachable; retrying", exc_info=True)
                await asyncio.sleep(min(failures, 5))
                if self.station is not None:
                    await self._make_reachable()  # Redis may have come back empty

    async def dispatch(self, message):
        # Channels closes stale DB connections before every message, through
        # Django's one sync thread. This consumer never touches the ORM (the
        # writer thread does, and keeps its own connection healthy), so that
        # hop per frame would only cost throughput and block the sync thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data=None, bytes_data=None):
        if self.cp is None:
            return
        data = text_data if text_data is not None else bytes_data
        if len(data) > gateway_settings.MAX_FRAME_BYTES // 4 and (
            len(data.encode() if isinstance(data, str) else data) > gateway_settings.MAX_FRAME_BYTES
        ):
            await self.close(code=1009)
            return
        if self.connection.inbox.qsize() >= MAX_QUEUED_FRAMES:
            # OCPP-J allows one call at a time; a station this far ahead of
            # our answers is flooding, and must not grow memory without bound.
            logger.warning("%s: %d frames unanswered, closing", self.station.station_id, MAX_QUEUED_FRAMES)
            await self.close(code=1008)
            return
        presence.touch(self.station.station_id)
        if bytes_data is not None:
            try:
                data = bytes_data.decode("utf-8")
            except UnicodeDecodeError:
                data = "\x00"  # not JSON: answered with FormationViolation
        self.connection.inbox.put_nowait(data)

    async def disconnect(self, code):
        if self.station is None:
            return
        # Frames already received (a reply just before a Reset's disconnect, a
        # StopTransaction) are still handled before the conversation ends.
        self.connection.inbox.put_nowait(_CLOSED)
        try:
            await asyncio.wait_for(asyncio.shield(self.cp_task), timeout=10)
        except (TimeoutError, ConnectionClosed, asyncio.CancelledError):
            pass
        except Exception:
            logger.exception("%s: conversation ended with an error", self.station.station_id)
        self.closed = True
        self.cp.fail_pending()
        self.commands.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.command_task), timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            pass
        for task in (self.cp_task, self.command_task, self.status_check, self.rejoin_task):
            if task is not None:
                task.cancel()
        await _best_effort(
            self.channel_layer.group_discard(station_group(self.station.pk), self.channel_name),
            "leaving the group",
        )
        await _best_effort(presence.unregister(self.station.station_id, self.channel_name), "presence")
        live_feed.station_changed(self.station.pk)

    async def _rejoin_until_reachable(self) -> None:
        delay = 1.0
        while not self.closed:
            await asyncio.sleep(delay)
            if await self._make_reachable():
                logger.info("%s: reachable for commands again", self.station.station_id)
                return
            delay = min(delay * 2, 30)

    async def _make_reachable(self) -> bool:
        """Join the command group and register presence again; True if both worked."""
        joined = await _best_effort(self._join(self.station), "rejoining the command group")
        return joined and await _best_effort(
            presence.register(self.station.station_id, self.channel_name), "registering presence"
        )

    async def _join(self, station) -> None:
        # A new connection replaces the old one, in whichever process it is.
        # (Asked only when there is one: the in-memory layer's group_send
        # scans every channel, which a reconnect storm must not pay.)
        if await presence.is_connected(station.station_id):
            await self.channel_layer.group_send(
                station_group(station.pk), {"type": "ocpp.replaced", "channel": self.channel_name}
            )
        await self.channel_layer.group_add(station_group(station.pk), self.channel_name)

    # Channel-layer events ------------------------------------------------------

    async def ocpp_replaced(self, event):
        if event["channel"] != self.channel_name:
            logger.info("%s: replaced by a new connection", self.station.station_id)
            await self.close(code=4000)

    async def ocpp_command(self, event):
        """A command for this station: queue it (one call in flight) and say so."""
        reply_to = event.get("reply_to")
        if self.closed:
            await self._reply(reply_to, {"type": "ocpp.command.result", "status": NOT_CONNECTED})
            return
        self.commands.put_nowait(event)
        if reply_to:
            await self._reply(reply_to, {"type": "ocpp.command.queued", "position": self.commands.qsize()})

    async def _reply(self, channel: str | None, message: dict) -> None:
        if channel:
            try:
                await self.channel_layer.send(channel, message)
            except Exception:
                metrics.channel_layer_errors.labels("reply").inc()
                logger.warning("Could not answer %s", channel, exc_info=True)

    async def _run_commands(self):
        while True:
            event = await self.commands.get()
            if event is None:
                break
            result = await self._execute(event)
            await self._reply(event.get("reply_to"), result)
        # Closed: whatever still waits in the queue fails now, not at its timeout.
        while not self.commands.empty():
            event = self.commands.get_nowait()
            if event is not None:
                await self._reply(
                    event.get("reply_to"), {"type": "ocpp.command.result", "status": NOT_CONNECTED}
                )

    async def _execute(self, event) -> dict:
        action, payload = event["action"], event["payload"]
        timeout = event.get("timeout") or gateway_settings.CALL_TIMEOUT
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
        try:
            await committer().run(
                lambda b: command_result_apply(
                    station_pk=self.station.pk, action=action, request=payload, response=reply.payload
                )
            )
        except Exception:
            logger.exception("%s: recording the %s result failed", self.station.station_id, action)
        return {"type": "ocpp.command.result", "status": "ok", "response": reply.payload}

    def _after_boot(self, status: str, boot: dict) -> None:
        """What an operator expects once a station is accepted: its connectors'
        status and its configuration, asked for without blocking its own messages."""
        logger.info(
            "Station %s booted: vendor %r, model %r, firmware %r; answered %s",
            self.station.station_id,
            boot.get("chargePointVendor"),
            boot.get("chargePointModel"),
            boot.get("firmwareVersion"),
            status,
        )
        if status != "Accepted":
            return
        self.commands.put_nowait({"action": "GetConfiguration", "payload": {}, "reply_to": None})
        if self.status_check is not None:
            self.status_check.cancel()  # booted again: the grace period starts anew
        self.status_check = asyncio.create_task(
            self._ask_status_unless_reported(self.cp.status_notifications)
        )

    async def _ask_status_unless_reported(self, seen: int) -> None:
        """Most stations report their connectors right after boot by themselves;
        ask only one that stayed silent (our request would meet an operator's)."""
        await asyncio.sleep(gateway_settings.STATUS_TRIGGER_DELAY)
        if self.cp.status_notifications == seen and not self.closed:
            self.commands.put_nowait(
                {
                    "action": "TriggerMessage",
                    "payload": {"requestedMessage": "StatusNotification"},
                    "reply_to": None,
                }
            )
