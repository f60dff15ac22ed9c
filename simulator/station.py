"""One simulated OCPP 1.6J charge point: it connects, boots, heartbeats, reports its
connectors, charges, and answers the nineteen central-system actions.

Handlers never wait for the central system: whatever a command sets off (a
transaction, a reboot, a triggered message) runs as a task that starts once
the reply has gone out."""

import asyncio
import base64
import contextlib
import logging
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import websockets
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from .config import Configuration
from .meter import iso, meter_value, sampled_values
from .schedule import Installed, clear_matches, composite, limit_w

log = logging.getLogger("simulator.station")

TRANSFER_SCHEMES = ("ftp", "ftps", "http", "https")


@dataclass
class StationOptions:
    station_id: str
    url: str
    connectors: int = 2
    password: str | None = None
    vendor: str = "EVPower"
    model: str = "Simulator"
    firmware_version: str = "1.0.0"
    meter_interval: int = 60
    power_kw: float = 11.0
    id_tag: str = "SIM-TAG"
    auto_start: str | None = None  # tag of a local start after the first boot
    charge_minutes: float = 1.0  # how long a local start charges
    auto_start_repeat: bool = False
    boot_retry: float = 10.0  # seconds between boots when a Pending/Rejected answer gives no interval
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    step_seconds: float = 1.0  # reboot time, firmware/diagnostics steps, a driver unplugging
    response_timeout: float = 30.0


class Offline(Exception):
    """The connection is gone (or closed before the central system answered)."""


@dataclass
class Connector:
    connector_id: int
    status: str = "Available"
    operative: bool = True
    scheduled_operative: bool | None = None  # ChangeAvailability waiting for the transaction to end
    plugged: bool = False
    phase: str | None = None  # Preparing/Charging/SuspendedEVSE/Finishing while a transaction task runs
    energy_wh: float = 0.0  # the meter register
    power_w: float = 0.0
    transaction_id: int | None = None
    id_tag: str | None = None
    meter_start: int = 0
    tx_start: datetime | None = None
    stop_reason: str | None = None
    reservation: dict | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


@dataclass
class _Link:
    ws: object
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SimulatedStation(ChargePoint):
    def __init__(self, options: StationOptions):
        super().__init__(options.station_id, None, response_timeout=options.response_timeout)
        self.options = options
        self.config = Configuration.default(
            connectors=options.connectors, meter_interval=options.meter_interval
        )
        self.connectors = {n: Connector(n) for n in range(options.connectors + 1)}
        self.firmware_version = options.firmware_version
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.registration: str | None = None
        self.connected = False
        self.booted = False
        # Booted and every connector's status reported since (what a central
        # system knows of the station): reset with `booted`.
        self.reported = False
        self.boots = 0
        self.messages_in = 0
        self.messages_out = 0
        self.local_list_version = 0
        self.local_list: dict[str, dict] = {}
        self.profiles: dict[int, Installed] = {}
        self._link: _Link | None = None
        self._outbox: list = []  # transaction messages that could not be sent yet
        self._tasks: set[asyncio.Task] = set()
        self._request_lock = asyncio.Lock()
        self._heartbeat_changed = asyncio.Event()
        self._reply_sent: asyncio.Future | None = None
        self._rebooting = False
        self._installed_firmware = False
        self._auto_started = False

    # Connection ------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve and reconnect (with back-off) until cancelled."""
        failures = 0
        while True:
            try:
                ws = await websockets.connect(
                    self.options.url,
                    subprotocols=["ocpp1.6"],
                    additional_headers=self._auth_headers(),
                    open_timeout=15,
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake) as error:
                failures += 1
                delay = self._backoff(failures)
                log.warning("%s: cannot connect (%s); retrying in %.1f s", self.id, _reason(error), delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            log.info("%s: connected to %s", self.id, self.options.url)
            await self._serve(ws)
            if self._rebooting:
                await asyncio.sleep(self.options.step_seconds)
                self._rebooting = False
                log.info("%s: rebooted", self.id)
            else:
                failures = 1
                delay = self._backoff(failures)
                log.warning("%s: connection lost; reconnecting in %.1f s", self.id, delay)
                await asyncio.sleep(delay)

    def _auth_headers(self) -> dict:
        if self.options.password is None:
            return {}
        token = base64.b64encode(f"{self.id}:{self.options.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _backoff(self, failures: int) -> float:
        # Jitter, so that a fleet does not come back in one wave.
        ceiling = min(self.options.reconnect_max, self.options.reconnect_min * 2 ** (failures - 1))
        return ceiling * random.uniform(0.5, 1.0)

    async def _serve(self, ws) -> None:
        link = self._link = _Link(ws)
        self._connection = ws
        self._response_queue = asyncio.Queue()
        self.connected = True
        session = self._spawn(self._session())
        try:
            async for raw in ws:
                await self.route_message(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            link.closed.set()
            self._link = None
            self.connected = self.booted = self.reported = False
            session.cancel()
            await ws.close()

    async def _session(self) -> None:
        """Boot, report every connector, send what waited offline, then heartbeat."""
        try:
            await self._boot()
            for connector in self.connectors.values():
                await self._send_status(connector.connector_id, connector.status)
            self.reported = self.booted
            while self._outbox:
                await self._notify(self._outbox[0])
                self._outbox.pop(0)
            if self._installed_firmware:
                self._installed_firmware = False
                await self._send_firmware_status("Installed")
            if self.options.auto_start is not None and not self._auto_started:
                self._auto_started = True
                self._spawn(self._auto_start_loop(self.options.auto_start or self.options.id_tag))
            await self._heartbeats()
        except Offline:
            pass

    async def _boot(self) -> None:
        while True:
            try:
                answer = await self._boot_notification()
            except (OCPPError, TimeoutError) as error:
                log.warning("%s: BootNotification failed (%s)", self.id, error)
                await asyncio.sleep(self.options.boot_retry)
                continue
            if answer.status == "Accepted":
                return
            retry = answer.interval or self.options.boot_retry
            log.info("%s: boot %s; retrying in %s s", self.id, answer.status, retry)
            await asyncio.sleep(retry)

    async def _boot_notification(self):
        answer = await self._request(
            call.BootNotification(
                charge_point_vendor=self.options.vendor,
                charge_point_model=self.options.model,
                charge_point_serial_number=f"SN-{self.id}"[:25],
                firmware_version=self.firmware_version,
                meter_type="SimMeter",
            )
        )
        self.registration = answer.status
        if answer.status == "Accepted":
            if answer.interval > 0:
                self.config.set("HeartbeatInterval", answer.interval)
                self._heartbeat_changed.set()
            self.booted = True
            self.boots += 1
            log.info("%s: booted (heartbeat every %s s)", self.id, self.config.as_int("HeartbeatInterval"))
        return answer

    async def _heartbeats(self) -> None:
        while True:
            interval = self.config.as_int("HeartbeatInterval")
            self._heartbeat_changed.clear()
            try:
                await asyncio.wait_for(self._heartbeat_changed.wait(), interval or None)
                continue  # a new interval: start waiting again
            except TimeoutError:
                pass
            await self._notify(call.Heartbeat())

    # Calls to the central system ---------------------------------------------------

    async def _request(self, payload):
        """Send `payload`, return the answer; raises Offline, OCPPError or TimeoutError."""
        link = self._link
        # Before an accepted boot only BootNotification may go out (OCPP 1.6 section 4.2).
        if link is None or not (self.booted or isinstance(payload, call.BootNotification)):
            raise Offline
        async with self._request_lock:  # in order of asking, one at a time
            calling = asyncio.ensure_future(self.call(payload, suppress=False))
            closed = asyncio.ensure_future(link.closed.wait())
            try:
                done, _ = await asyncio.wait({calling, closed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
                if not calling.done():
                    calling.cancel()
            if calling not in done or calling.cancelled():
                raise Offline
            try:
                return calling.result()
            except websockets.ConnectionClosed:
                raise Offline

    async def _notify(self, payload) -> object | None:
        """`_request`, logging a refusal instead of raising (Offline still raises)."""
        try:
            return await self._request(payload)
        except (OCPPError, TimeoutError) as error:
            log.warning("%s: %s failed: %r", self.id, type(payload).__name__, error)
            return None

    async def _deliver(self, payload) -> None:
        """Send a transaction message, keeping it for after the next boot if offline."""
        try:
            await self._notify(payload)
        except Offline:
            self._outbox.append(payload)

    async def _send_status(self, connector_id: int, status: str) -> None:
        await self._notify(
            call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=status, timestamp=iso(utcnow())
            )
        )

    async def _send_firmware_status(self, status: str) -> None:
        self.firmware_status = status
        log.info("%s: firmware %s", self.id, status)
        with contextlib.suppress(Offline):
            await self._notify(call.FirmwareStatusNotification(status=status))

    async def _send_diagnostics_status(self, status: str) -> None:
        self.diagnostics_status = status
        log.info("%s: diagnostics %s", self.id, status)
        with contextlib.suppress(Offline):
            await self._notify(call.DiagnosticsStatusNotification(status=status))

    # Frames in and out ---------------------------------------------------------------

    async def route_message(self, raw_msg):
        self.messages_in += 1
        self._reply_sent = asyncio.get_running_loop().create_future()
        try:
            await super().route_message(raw_msg)
        finally:
            self._reply_sent.set_result(None)

    async def _send(self, message):  # the ocpp base class's frame writer, counted
        self.messages_out += 1
        await self._connection.send(message)

    def _spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self.id, exc_info=task.exception())

    def _after_reply(self, coro: Coroutine) -> asyncio.Task:
        """Run `coro` once the reply to the call being handled has been sent."""
        gate = self._reply_sent

        async def later():
            if gate is not None:
                await gate
            return await coro

        return self._spawn(later())

    def close(self) -> None:
        """Stop everything this station runs (the caller cancels `run`)."""
        for task in list(self._tasks):
            task.cancel()

    # Connectors ------------------------------------------------------------------

    @property
    def charging(self) -> bool:
        return any(c.transaction_id is not None for c in self.connectors.values())

    def _refresh(self, c: Connector) -> None:
        """Derive the connector's status and report it when it changed."""
        if c.connector_id == 0:
            status = "Available" if c.operative else "Unavailable"
        elif c.phase is not None:
            status = c.phase
        elif not c.operative:
            status = "Unavailable"
        elif c.reservation is not None:
            status = "Reserved"
        elif c.plugged:
            status = "Preparing"
        else:
            status = "Available"
        if status == c.status:
            return
        c.status = status
        log.info("%s: connector %s %s", self.id, c.connector_id, status)
        if self.booted:
            self._after_reply(self._quietly(self._send_status(c.connector_id, status)))

    async def _quietly(self, coro: Coroutine) -> None:
        try:
            await coro
        except Offline:
            pass
        except (OCPPError, TimeoutError) as error:
            log.warning("%s: %r", self.id, error)

    def _set_phase(self, c: Connector, phase: str | None) -> None:
        c.phase = phase
        self._refresh(c)

    def _free_connector(self, connector_id: int | None, id_tag: str) -> Connector | None:
        """A connector where `id_tag` may start now (the given one, else the first free)."""
        candidates = (
            [self.connectors.get(connector_id)]
            if connector_id is not None
            else [c for n, c in self.connectors.items() if n > 0]
        )
        for c in candidates:
            if c is None or c.connector_id == 0 or not c.operative or c.busy:
                continue
            if c.reservation is not None and id_tag not in (c.reservation["id_tag"], c.reservation["parent"]):
                continue
            return c
        return None

    # Transactions ---------------------------------------------------------------------

    async def _charge(self, c: Connector, id_tag: str, *, remote: bool, minutes: float | None = None) -> None:
        """Plug in, authorise, start, sample the meter until stopped, stop, unplug."""
        c.plugged, c.stop_reason = True, None
        self._set_phase(c, "Preparing")
        try:
            if not await self._authorized(id_tag, remote=remote):
                raise PermissionError(f"{id_tag} not authorised")
            reservation = c.reservation
            c.meter_start, c.tx_start = int(c.energy_wh), utcnow()
            started = await self._request(
                call.StartTransaction(
                    connector_id=c.connector_id,
                    id_tag=id_tag,
                    meter_start=c.meter_start,
                    timestamp=iso(c.tx_start),
                    reservation_id=reservation["reservation_id"] if reservation else None,
                )
            )
        except (Offline, OCPPError, TimeoutError, PermissionError) as error:
            log.warning("%s: no transaction on connector %s: %s", self.id, c.connector_id, error)
            c.plugged = False
            self._set_phase(c, None)
            return
        c.transaction_id, c.id_tag, c.reservation = started.transaction_id, id_tag, None
        log.info(
            "%s: transaction %s started on connector %s for %s (meter %s Wh)",
            self.id,
            c.transaction_id,
            c.connector_id,
            id_tag,
            c.meter_start,
        )
        if started.id_tag_info["status"] != "Accepted" and self.config.as_bool("StopTransactionOnInvalidId"):
            c.stop_reason = "DeAuthorized"
        else:
            self._set_phase(c, "Charging")
        await self._sample_until_stopped(c, minutes)
        await self._stop(c)

    async def _authorized(self, id_tag: str, *, remote: bool) -> bool:
        if remote and not self.config.as_bool("AuthorizeRemoteTxRequests"):
            return True
        entry = self.local_list.get(id_tag)
        if entry is not None and self.config.as_bool("LocalPreAuthorize"):
            return entry.get("status") == "Accepted"
        answer = await self._request(call.Authorize(id_tag=id_tag))
        return answer.id_tag_info["status"] == "Accepted"

    def _offered_w(self, c: Connector) -> float:
        return limit_w(
            list(self.profiles.values()),
            connector_id=c.connector_id,
            at=utcnow(),
            tx_start=c.tx_start if c.transaction_id is not None else None,
            max_w=self.options.power_kw * 1000,
        )

    def _integrate(self, c: Connector, elapsed: float) -> None:
        """Add the energy drawn over `elapsed` seconds, then take up the power now allowed."""
        c.energy_wh += c.power_w * elapsed / 3600
        c.power_w = self._offered_w(c)
        if c.phase in ("Charging", "SuspendedEVSE"):
            self._set_phase(c, "Charging" if c.power_w > 0 else "SuspendedEVSE")

    async def _sample_until_stopped(self, c: Connector, minutes: float | None) -> None:
        loop = asyncio.get_running_loop()
        last = last_sample = loop.time()
        deadline = last + minutes * 60 if minutes else None
        c.power_w = self._offered_w(c)
        while c.stop_reason is None:
            interval = self.config.as_int("MeterValueSampleInterval")
            waits = [t for t in (last_sample + interval if interval else None, deadline) if t is not None]
            c.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.wake.wait(), max(0.0, min(waits) - loop.time()) if waits else None)
            now = loop.time()
            self._integrate(c, now - last)
            last = now
            if deadline is not None and now >= deadline:
                c.stop_reason = c.stop_reason or "Local"
            if c.stop_reason is None and interval and now >= last_sample + interval:
                last_sample = now
                await self._send_meter_values(c, "Sample.Periodic")

    async def _send_meter_values(self, c: Connector, context: str) -> None:
        sample = sampled_values(
            measurands=self.config.as_list("MeterValuesSampledData"),
            energy_wh=c.energy_wh,
            power_w=c.power_w if c.transaction_id is not None else 0.0,
            offered_w=self._offered_w(c),
            session_wh=c.energy_wh - c.meter_start if c.transaction_id is not None else 0.0,
            context=context,
        )
        log.info("%s: connector %s at %d Wh, %.1f kW", self.id, c.connector_id, c.energy_wh, c.power_w / 1000)
        with contextlib.suppress(Offline):
            await self._notify(
                call.MeterValues(
                    connector_id=c.connector_id,
                    transaction_id=c.transaction_id,
                    meter_value=[meter_value(utcnow(), sample)],
                )
            )

    def _stop_message(self, c: Connector) -> call.StopTransaction:
        """Close the connector's transaction and return its StopTransaction."""
        now = utcnow()
        end = sampled_values(
            measurands=self.config.as_list("StopTxnSampledData"),
            energy_wh=c.energy_wh,
            power_w=c.power_w,
            offered_w=c.power_w,
            session_wh=c.energy_wh - c.meter_start,
            context="Transaction.End",
        )
        message = call.StopTransaction(
            meter_stop=int(c.energy_wh),
            timestamp=iso(now),
            transaction_id=c.transaction_id,
            reason=c.stop_reason or "Local",
            id_tag=c.id_tag,
            transaction_data=[meter_value(now, end)] if end else None,
        )
        log.info(
            "%s: transaction %s stopped (%s, %d Wh charged)",
            self.id,
            c.transaction_id,
            message.reason,
            message.meter_stop - c.meter_start,
        )
        c.transaction_id = c.tx_start = None
        c.power_w = 0.0
        for profile_id in [k for k, p in self.profiles.items() if _ends_with_transaction(p, c)]:
            del self.profiles[profile_id]
        return message

    async def _stop(self, c: Connector) -> None:
        message = self._stop_message(c)
        self._set_phase(c, "Finishing")
        await self._deliver(message)
        await asyncio.sleep(self.options.step_seconds)  # the driver unplugs
        self._unplugged(c)

    def _unplugged(self, c: Connector) -> None:
        c.plugged = False
        c.phase = None
        if c.scheduled_operative is not None:
            c.operative, c.scheduled_operative = c.scheduled_operative, None
        self._refresh(c)

    def _request_stop(self, c: Connector, reason: str) -> None:
        c.stop_reason = reason
        c.wake.set()

    async def _auto_start_loop(self, id_tag: str) -> None:
        while True:
            c = self._free_connector(None, id_tag)
            if c is not None and self.booted:
                log.info("%s: local start on connector %s with %s", self.id, c.connector_id, id_tag)
                c.task = self._spawn(
                    self._charge(c, id_tag, remote=False, minutes=self.options.charge_minutes)
                )
                await asyncio.wait({c.task})
            if not self.options.auto_start_repeat:
                return
            await asyncio.sleep(self.options.step_seconds * 5)

    # Reboots ------------------------------------------------------------------------

    async def _reboot(self, kind: str) -> None:
        """End transactions (Soft: reported first; Hard: reported after the boot), then
        drop the connection; `run` reconnects and boots."""
        reason = f"{kind}Reset"
        running = [c for c in self.connectors.values() if c.busy]
        if kind == "Soft":
            for c in running:
                self._request_stop(c, reason)
            if running:
                await asyncio.wait([c.task for c in running], timeout=10)
        for c in running:
            c.task.cancel()
            if c.transaction_id is not None:
                c.stop_reason = c.stop_reason or reason
                self._outbox.append(self._stop_message(c))
        for c in self.connectors.values():
            c.plugged, c.phase, c.reservation = False, None, None
            if c.scheduled_operative is not None:
                c.operative, c.scheduled_operative = c.scheduled_operative, None
        self.booted = self.reported = False
        for c in self.connectors.values():
            self._refresh(c)
        log.info("%s: rebooting (%s)", self.id, kind)
        self._rebooting = True
        link = self._link
        if link is not None:
            await link.ws.close()

    # Central system -> station: the nineteen actions -----------------------------------

    def _answer(self, action: str, detail: str, status) -> None:
        log.info("%s: %s%s -> %s", self.id, action, f" ({detail})" if detail else "", status)

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        self._answer("Reset", type, "Accepted")
        self._after_reply(self._reboot(type))
        return call_result.Reset(status="Accepted")

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **kwargs):
        c = self._free_connector(connector_id, id_tag)
        profile = snake_to_camel_case(charging_profile) if charging_profile else None
        status = "Accepted"
        if c is None or (profile is not None and profile["chargingProfilePurpose"] != "TxProfile"):
            status = "Rejected"
        self._answer("RemoteStartTransaction", f"{id_tag} on connector {connector_id or 'any'}", status)
        if status == "Accepted":
            if profile is not None:
                self.profiles[profile["chargingProfileId"]] = Installed(c.connector_id, profile)
            c.task = self._after_reply(self._charge(c, id_tag, remote=True))
        return call_result.RemoteStartTransaction(status=status)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, **kwargs):
        c = self._connector_with_transaction(transaction_id)
        status = "Rejected" if c is None else "Accepted"
        self._answer("RemoteStopTransaction", f"transaction {transaction_id}", status)
        if c is not None:
            self._request_stop(c, "Remote")
        return call_result.RemoteStopTransaction(status=status)

    def _connector_with_transaction(self, transaction_id: int) -> Connector | None:
        for c in self.connectors.values():
            if c.transaction_id == transaction_id and c.transaction_id is not None:
                return c
        return None

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id, **kwargs):
        c = self.connectors.get(connector_id)
        if c is None or connector_id == 0:
            status = "NotSupported"
        else:
            status = "Unlocked"
            if c.transaction_id is not None:
                self._request_stop(c, "UnlockCommand")
            elif not c.busy:
                c.plugged = False
                self._refresh(c)
        self._answer("UnlockConnector", f"connector {connector_id}", status)
        return call_result.UnlockConnector(status=status)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, **kwargs):
        operative = type == "Operative"
        if connector_id not in self.connectors:
            status = "Rejected"
        else:
            status = "Accepted"
            targets = self.connectors.values() if connector_id == 0 else [self.connectors[connector_id]]
            for c in targets:
                if c.busy and not operative:
                    c.scheduled_operative, status = operative, "Scheduled"
                else:
                    c.operative, c.scheduled_operative = operative, None
                    self._refresh(c)
        self._answer("ChangeAvailability", f"connector {connector_id} {type}", status)
        return call_result.ChangeAvailability(status=status)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        status = self.config.change(key, value)
        if status == "Accepted" and key == "HeartbeatInterval":
            self._heartbeat_changed.set()
        if status == "Accepted" and key == "MeterValueSampleInterval":
            for c in self.connectors.values():
                c.wake.set()
        self._answer("ChangeConfiguration", f"{key}={value}", status)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **kwargs):
        answer = self.config.get(key)
        self._answer("GetConfiguration", ",".join(key or []), f"{len(answer['configurationKey'])} keys")
        return call_result.GetConfiguration(
            configuration_key=answer["configurationKey"], unknown_key=answer.get("unknownKey")
        )

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs):
        self._answer("ClearCache", "", "Accepted")
        return call_result.ClearCache(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None, **kwargs):
        status = "Accepted"
        if connector_id is not None and connector_id not in self.connectors:
            status = "Rejected"
        self._answer("TriggerMessage", requested_message, status)
        if status == "Accepted":
            self._after_reply(self._quietly(self._triggered(requested_message, connector_id)))
        return call_result.TriggerMessage(status=status)

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        if message == "BootNotification":
            await self._boot_notification()
        elif message == "Heartbeat":
            await self._notify(call.Heartbeat())
        elif message == "DiagnosticsStatusNotification":
            await self._notify(call.DiagnosticsStatusNotification(status=self.diagnostics_status))
        elif message == "FirmwareStatusNotification":
            await self._notify(call.FirmwareStatusNotification(status=self.firmware_status))
        elif message == "StatusNotification":
            for c in self._addressed(connector_id, with_zero=True):
                await self._send_status(c.connector_id, c.status)
        elif message == "MeterValues":
            for c in self._addressed(connector_id, with_zero=False):
                await self._send_meter_values(c, "Trigger")

    def _addressed(self, connector_id: int | None, *, with_zero: bool) -> list[Connector]:
        if connector_id is not None and (connector_id > 0 or with_zero):
            return [self.connectors[connector_id]]
        return [c for n, c in self.connectors.items() if n > 0 or with_zero]

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, parent_id_tag=None, **kwargs):
        c = self.connectors.get(connector_id)
        if c is None or connector_id == 0:  # ReserveConnectorZeroSupported is false
            status = "Rejected"
        elif not c.operative:
            status = "Unavailable"
        elif c.busy or c.plugged or (c.reservation and c.reservation["reservation_id"] != reservation_id):
            status = "Occupied"
        else:
            status = "Accepted"
            for other in self.connectors.values():  # a known id moves to this connector
                if other.reservation and other.reservation["reservation_id"] == reservation_id:
                    other.reservation = None
                    self._refresh(other)
            c.reservation = {"reservation_id": reservation_id, "id_tag": id_tag, "parent": parent_id_tag}
            self._refresh(c)
            self._after_reply(self._expire_reservation(c, reservation_id, expiry_date))
        self._answer("ReserveNow", f"{reservation_id} connector {connector_id} for {id_tag}", status)
        return call_result.ReserveNow(status=status)

    async def _expire_reservation(self, c: Connector, reservation_id: int, expiry_date: str) -> None:
        expiry = datetime.fromisoformat(expiry_date.replace("Z", "+00:00"))
        await asyncio.sleep(max(0.0, (expiry - utcnow()).total_seconds()))
        if c.reservation and c.reservation["reservation_id"] == reservation_id:
            log.info("%s: reservation %s expired", self.id, reservation_id)
            c.reservation = None
            self._refresh(c)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **kwargs):
        status = "Rejected"
        for c in self.connectors.values():
            if c.reservation and c.reservation["reservation_id"] == reservation_id:
                c.reservation, status = None, "Accepted"
                self._refresh(c)
        self._answer("CancelReservation", str(reservation_id), status)
        return call_result.CancelReservation(status=status)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kwargs):
        profile = snake_to_camel_case(cs_charging_profiles)
        status = self._profile_refusal(connector_id, profile) or "Accepted"
        if status == "Accepted":
            for profile_id, other in list(self.profiles.items()):
                if (
                    other.connector_id == connector_id
                    and other.profile["chargingProfilePurpose"] == profile["chargingProfilePurpose"]
                    and other.profile["stackLevel"] == profile["stackLevel"]
                ):
                    del self.profiles[profile_id]
            self.profiles[profile["chargingProfileId"]] = Installed(connector_id, profile)
            for c in self.connectors.values():
                c.wake.set()  # charging power follows the new limit
        self._answer("SetChargingProfile", f"{profile['chargingProfileId']} on {connector_id}", status)
        return call_result.SetChargingProfile(status=status)

    def _profile_refusal(self, connector_id: int, profile: dict) -> str | None:
        purpose = profile["chargingProfilePurpose"]
        c = self.connectors.get(connector_id)
        if c is None or profile["stackLevel"] > self.config.as_int("ChargeProfileMaxStackLevel"):
            return "Rejected"
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return "Rejected"
        if purpose == "TxProfile":
            wanted = profile.get("transactionId")
            if c.transaction_id is None or (wanted is not None and wanted != c.transaction_id):
                return "Rejected"
        return None

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **kwargs
    ):
        matching = [
            key
            for key, item in self.profiles.items()
            if clear_matches(
                item,
                profile_id=id,
                connector_id=connector_id,
                purpose=charging_profile_purpose,
                stack_level=stack_level,
            )
        ]
        for key in matching:
            del self.profiles[key]
        for c in self.connectors.values():
            c.wake.set()
        status = "Accepted" if matching else "Unknown"
        self._answer("ClearChargingProfile", f"{len(matching)} removed", status)
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **kwargs):
        c = self.connectors.get(connector_id)
        self._answer(
            "GetCompositeSchedule", f"connector {connector_id}, {duration} s", "Accepted" if c else "Rejected"
        )
        if c is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        now = utcnow().replace(microsecond=0)
        schedule = composite(
            list(self.profiles.values()),
            connector_id=connector_id,
            now=now,
            duration=duration,
            unit=charging_rate_unit or "W",
            tx_start=c.tx_start if c.transaction_id is not None else None,
            max_w=self.options.power_kw * 1000,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=schedule["startSchedule"],
            charging_schedule=schedule,
        )

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs):
        version = self.local_list_version if self.config.as_bool("LocalAuthListEnabled") else -1
        self._answer("GetLocalListVersion", "", version)
        return call_result.GetLocalListVersion(list_version=version)

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version, update_type, local_authorization_list=None, **kwargs):
        entries = local_authorization_list or []
        if not self.config.as_bool("LocalAuthListEnabled"):
            status = "NotSupported"
        elif len(entries) > self.config.as_int("SendLocalListMaxLength"):
            status = "Failed"
        elif update_type == "Differential" and list_version <= self.local_list_version:
            status = "VersionMismatch"
        else:
            status = "Accepted"
            if update_type == "Full":
                self.local_list = {}
            for entry in entries:
                if entry.get("id_tag_info"):
                    self.local_list[entry["id_tag"]] = entry["id_tag_info"]
                else:
                    self.local_list.pop(entry["id_tag"], None)
            self.local_list_version = list_version
        self._answer("SendLocalList", f"{update_type} v{list_version}, {len(entries)} entries", status)
        return call_result.SendLocalList(status=status)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location, **kwargs):
        file_name = f"{self.id}-{utcnow():%Y%m%dT%H%M%SZ}.log"
        self._answer("GetDiagnostics", location, file_name)
        self._after_reply(self._upload_diagnostics(location))
        return call_result.GetDiagnostics(file_name=file_name)

    async def _upload_diagnostics(self, location: str) -> None:
        await self._send_diagnostics_status("Uploading")
        await asyncio.sleep(self.options.step_seconds)
        uploaded = urlsplit(location).scheme in TRANSFER_SCHEMES
        await self._send_diagnostics_status("Uploaded" if uploaded else "UploadFailed")

    @on(Action.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **kwargs):
        self._answer("UpdateFirmware", f"{location} from {retrieve_date}", "Accepted")
        self._after_reply(self._update_firmware(location, retrieve_date))
        return call_result.UpdateFirmware()

    async def _update_firmware(self, location: str, retrieve_date: str) -> None:
        retrieve = datetime.fromisoformat(retrieve_date.replace("Z", "+00:00"))
        await asyncio.sleep(max(0.0, (retrieve - utcnow()).total_seconds()))
        await self._send_firmware_status("Downloading")
        await asyncio.sleep(self.options.step_seconds)
        if urlsplit(location).scheme not in TRANSFER_SCHEMES:
            await self._send_firmware_status("DownloadFailed")
            return
        await self._send_firmware_status("Downloaded")
        # Installing waits for the running transactions.
        while running := [c.task for c in self.connectors.values() if c.busy]:
            await asyncio.wait(running)
        await self._send_firmware_status("Installing")
        await asyncio.sleep(self.options.step_seconds)
        name = urlsplit(location).path.rsplit("/", 1)[-1] or "update"
        self.firmware_version = name.removesuffix(".bin")[:50]
        self._installed_firmware = True  # reported after the reboot
        await self._reboot("Soft")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **kwargs):
        if vendor_id != self.options.vendor:
            self._answer("DataTransfer", vendor_id, "UnknownVendorId")
            return call_result.DataTransfer(status="UnknownVendorId")
        self._answer("DataTransfer", f"{vendor_id} {message_id or ''}".strip(), "Accepted")
        return call_result.DataTransfer(status="Accepted", data=data)


def _ends_with_transaction(item: Installed, c: Connector) -> bool:
    return item.connector_id == c.connector_id and item.profile["chargingProfilePurpose"] == "TxProfile"


def _reason(error: BaseException) -> str:
    if isinstance(error, websockets.InvalidStatus):
        return f"refused: HTTP {error.response.status_code}"
    return str(error) or type(error).__name__
