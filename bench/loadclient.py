"""The benchmark's load client: many OCPP 1.6J stations per process, lean.

`run.py` starts a few of these as separate processes (`multiprocessing`) and
drives them over a pipe, one operation at a time; each answer carries the
process's own CPU seconds for that operation, so the report can show the
client is not the bottleneck. A station here does only what the benchmark
measures: boot, status, one transaction, heartbeats, MeterValues, answering
whatever the central system asks, and reconnecting when the server dies.
"""

import asyncio
import itertools
import json
import random
import socket
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

CALL_TIMEOUT = 30
ID_TAG = "BENCH-TAG"
_ids = itertools.count(1)

# What a station answers to each central-system action: enough to be valid.
_REPLIES = {
    # A few keys, as every charger has: asked without keys (after its first
    # boot) an empty answer would leave the central system knowing nothing,
    # and it would ask again at every boot, which no real station makes it do.
    "GetConfiguration": {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "1"},
        ],
        "unknownKey": [],
    },
    "GetLocalListVersion": {"listVersion": 0},
    "GetDiagnostics": {},
    "UpdateFirmware": {},
    "UnlockConnector": {"status": "Unlocked"},
    "GetCompositeSchedule": {"status": "Rejected"},
}
_ACCEPTED = {"status": "Accepted"}
# Linux: bind the source address now, the port at connect() (so one source
# address serves ~28k connections to each server port, not ~28k in all).
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def failure_kind(exc: BaseException) -> str:
    """A short name for why a connection or call failed, to count by kind."""
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


class _Clock:
    """The current time as OCPP text, formatted at most once per 10 ms."""

    text, at = "", 0.0

    def now(self) -> str:
        t = time.monotonic()
        if t - self.at > 0.01:
            self.at = t
            self.text = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.text


clock = _Clock()


class Station:
    def __init__(self, station_id: str, url: str, source: str | None = None):
        self.station_id = station_id
        self.url = url
        self.source = source  # local address to connect from (None: the kernel's choice)
        self.ws = None
        self.pending: dict[str, asyncio.Future] = {}
        self.transaction_id = None
        self.energy_wh = 0
        self.busy = False
        self.booted_at = None  # time.time() of the last accepted BootNotification
        self.closed = asyncio.Event()

    async def open(self, timeout: float = 30) -> None:
        self.closed.clear()
        options = {}
        if self.source:
            options["sock"] = await self._socket(timeout)
        try:
            self.ws = await connect(
                self.url,
                subprotocols=["ocpp1.6"],
                compression=None,
                proxy=None,
                ping_interval=None,
                open_timeout=timeout,
                close_timeout=2,
                max_queue=64,
                **options,
            )
        except BaseException:
            if "sock" in options:
                options["sock"].close()
            raise
        asyncio.get_running_loop().create_task(self._read(self.ws))

    async def _socket(self, timeout: float) -> socket.socket:
        """A TCP socket from `self.source` to the server, connected."""
        url = urlsplit(self.url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.source, 0))
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, (url.hostname, url.port)), timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == 2:
                    reply = _REPLIES.get(msg[2], _ACCEPTED)
                    await ws.send(json.dumps([3, msg[1], reply]))
                    continue
                future = self.pending.pop(msg[1], None)
                if future is not None and not future.done():
                    future.set_result(msg)
        except Exception:
            pass
        finally:
            if ws is self.ws:
                for future in self.pending.values():
                    if not future.done():
                        future.set_exception(ConnectionError("closed"))
                self.pending.clear()
                self.closed.set()

    async def call(self, action: str, payload: dict) -> dict:
        """Send a CALL and return the CALLRESULT payload (raise on CALLERROR)."""
        unique_id = str(next(_ids))
        future = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = future
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        reply = await asyncio.wait_for(future, CALL_TIMEOUT)
        if reply[0] != 3:
            raise RuntimeError(f"{action}: {reply[2]} {reply[3]}")
        return reply[2]

    async def boot(self) -> str:
        answer = await self.call(
            "BootNotification", {"chargePointVendor": "EVPowerBench", "chargePointModel": "Lean"}
        )
        if answer["status"] == "Accepted":
            self.booted_at = time.time()
        return answer["status"]

    async def start(self, steps: dict[str, list], transaction: bool = True) -> None:
        """Boot, report the connector, start one transaction (for MeterValues;
        unless `transaction` is false); each step's seconds appended to `steps`."""
        t0 = time.monotonic()
        await self.boot()
        t1 = time.monotonic()
        await self.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": clock.now()},
        )
        t2 = time.monotonic()
        steps["boot"].append(t1 - t0)
        steps["status"].append(t2 - t1)
        if not transaction:
            return
        answer = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0, "timestamp": clock.now()},
        )
        self.transaction_id = answer["transactionId"]
        steps["start_tx"].append(time.monotonic() - t2)

    async def meter_value(self) -> None:
        self.energy_wh += 10
        await self.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": self.transaction_id,
                "meterValue": [
                    {
                        "timestamp": clock.now(),
                        "sampledValue": [
                            {
                                "value": str(self.energy_wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            },
        )

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass


class Worker:
    def __init__(self, conn):
        self.conn = conn
        self.stations: list[Station] = []

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            request = await loop.run_in_executor(None, self.conn.recv)
            op = request.pop("op")
            cpu, wall = time.process_time(), time.monotonic()
            result = await getattr(self, f"op_{op}")(**request)
            result["cpu"] = time.process_time() - cpu
            result["wall"] = time.monotonic() - wall
            self.conn.send(result)
            if op == "close":
                return

    async def op_connect(
        self, stations: list, concurrency: int = 100, rate: float = 0, transaction: bool = True
    ) -> dict:
        """Connect and start every station (`[id, url, source address]`),
        `concurrency` at a time and, with a `rate`, at most that many new
        connections per second."""
        gate = asyncio.Semaphore(concurrency)
        latencies, failures, kinds = [], [], Counter()
        steps = {"handshake": [], "boot": [], "status": [], "start_tx": []}
        start = time.monotonic()

        async def one(index: int, station: Station) -> None:
            if rate:
                await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            async with gate:
                t0 = time.monotonic()
                try:
                    await station.open()
                    t1 = time.monotonic()
                    await station.start(steps, transaction)
                    steps["handshake"].append(t1 - t0)
                    latencies.append(time.monotonic() - t0)
                    self.stations.append(station)
                except Exception as exc:
                    kinds[failure_kind(exc)] += 1
                    failures.append(f"{station.station_id}: {exc!r}")
                    await station.close()

        await asyncio.gather(*(one(i, Station(*args)) for i, args in enumerate(stations)))
        return {
            "connected": len(latencies),
            "latencies": latencies,
            "failures": failures[:5],
            "failure_kinds": dict(kinds),
            "steps": steps,
        }

    def _live(self) -> list[Station]:
        return [s for s in self.stations if not s.closed.is_set()]

    async def op_hold(self, seconds: float, interval: float) -> dict:
        """Every station heartbeats every `interval` s (random phase) for
        `seconds`; with no `interval` the stations only stay connected."""
        end = time.monotonic() + seconds
        latencies, failures = [], 0
        if not interval:
            await asyncio.sleep(seconds)
            return {"acked": 0, "failures": 0, "latencies": [], "live": len(self._live())}

        async def beat(station: Station) -> None:
            nonlocal failures
            # A fleet beats at random phases: with an interval longer than the
            # hold, only some stations beat in it (as many as in a real fleet).
            await asyncio.sleep(min(random.uniform(0, interval), end - time.monotonic() + 0.01))
            while time.monotonic() < end:
                t0 = time.monotonic()
                try:
                    await station.call("Heartbeat", {})
                    latencies.append(time.monotonic() - t0)
                except Exception:
                    failures += 1
                    return
                await asyncio.sleep(min(interval, end - time.monotonic() + 0.01))

        await asyncio.gather(*(beat(s) for s in self.stations))
        return {
            "acked": len(latencies),
            "failures": failures,
            "latencies": latencies,
            "live": len(self._live()),
        }

    async def op_meter(self, seconds: float, rate: float | None) -> dict:
        """MeterValues for `seconds`: at `rate` per second over this worker's
        stations (one call in flight per station), or as fast as acknowledged
        when `rate` is None. Waits for every call in flight before answering."""
        latencies, failures, sent = [], 0, 0
        stations = self._live()
        tasks = set()

        async def one(station: Station) -> None:
            nonlocal failures
            station.busy = True
            t0 = time.monotonic()
            try:
                await station.meter_value()
                latencies.append(time.monotonic() - t0)
            except Exception:
                failures += 1
            finally:
                station.busy = False

        start = time.monotonic()
        end = start + seconds
        if rate is None:

            async def loop(station: Station) -> None:
                nonlocal sent
                while time.monotonic() < end and not station.closed.is_set():
                    sent += 1
                    await one(station)

            await asyncio.gather(*(loop(s) for s in stations))
        else:
            cursor = itertools.cycle(stations)
            skipped = 0
            while (now := time.monotonic()) < end:
                due = int((now - start) * rate) - sent
                for _ in range(due):
                    # The next idle station; a busy one (OCPP-J: one call in
                    # flight) is passed over, which counts as a missed send.
                    for _ in range(len(stations)):
                        station = next(cursor)
                        if not station.busy:
                            break
                    else:
                        skipped += due
                        sent += due
                        break
                    sent += 1
                    task = asyncio.get_running_loop().create_task(one(station))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(0.005)
            if tasks:
                await asyncio.wait(tasks)
            sent -= skipped
        return {"sent": sent, "acked": len(latencies), "failures": failures, "latencies": latencies}

    async def op_storm(
        self, deadline: float, min_delay: float = 0.1, max_delay: float = 1.0, open_timeout: float = 10
    ) -> dict:
        """Wait for every station to lose its connection, then reconnect it
        (retrying every `min_delay`..`max_delay` s) and boot it again.
        Answers the time.time() each one was booted again, and why attempts
        failed (by kind)."""
        booted, opened, failures, attempts, kinds = [], [], 0, 0, Counter()

        async def one(station: Station) -> None:
            nonlocal failures, attempts
            try:
                await asyncio.wait_for(station.closed.wait(), max(0.1, deadline - time.time()))
                while time.time() < deadline:
                    await asyncio.sleep(random.uniform(min_delay, max_delay))
                    attempts += 1
                    try:
                        await station.open(timeout=max(0.1, min(open_timeout, deadline - time.time())))
                        opened.append(time.time())
                        if await station.boot() == "Accepted":
                            booted.append(station.booted_at)
                            return
                    except Exception as exc:
                        kinds[failure_kind(exc)] += 1
                        await station.close()
                failures += 1
            except TimeoutError:
                failures += 1

        await asyncio.gather(*(one(s) for s in self.stations))
        return {
            "booted": booted,
            "opened": opened,
            "failures": failures,
            "attempts": attempts,
            "failure_kinds": dict(kinds),
        }

    async def op_close(self) -> dict:
        await asyncio.gather(*(s.close() for s in self.stations), return_exceptions=True)
        return {}


def worker_main(conn) -> None:
    """Entry point of one load-client process."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(Worker(conn).serve())
