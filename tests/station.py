"""A test charge point built on the `ocpp` package's ChargePoint over `websockets`.

It answers all nineteen central-system actions. `answers[action]` sets the
reply payload (camelCase dict); `behaviour[action]` may be "error" (CALLERROR),
"silent" (never answers) or "disconnect" (closes the socket mid-call).
"""

import asyncio
import base64
import contextlib
from datetime import UTC, datetime
from urllib.parse import quote

import websockets
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from ocpp16.schemas import CENTRAL_ACTIONS

DEFAULT_ANSWERS = {
    "GetConfiguration": {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ]
    },
    "GetDiagnostics": {"fileName": "diagnostics.zip"},
    "GetLocalListVersion": {"listVersion": 0},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
    "DataTransfer": {"status": "Accepted"},
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _answering(action: str):
    async def handler(self, **kwargs):
        return await self._answer(action, kwargs)

    handler.__name__ = f"on_central_{action}"
    return on(action)(handler)


class TestStation(ChargePoint):
    __test__ = False

    def __init__(self, station_id, connection):
        super().__init__(station_id, connection, response_timeout=15)
        self.answers: dict = {}
        self.behaviour: dict = {}
        self.received: list[tuple[str, dict]] = []
        self.received_event = asyncio.Event()
        self.in_flight = 0
        self.max_in_flight = 0

    async def start(self):
        # Handle each frame in its own task, so that if the central system ever
        # sent a second call before the first was answered, we would see it.
        tasks = set()
        while True:
            raw = await self._connection.recv()
            task = asyncio.create_task(self.route_message(raw))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _answer(self, action: str, kwargs: dict):
        self.received.append((action, kwargs))
        self.received_event.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._reply_for(action)
        finally:
            self.in_flight -= 1

    async def _reply_for(self, action: str):
        mode = self.behaviour.get(action)
        if mode == "error":
            raise GenericError(description=f"{action} refused by test station")
        if mode == "silent":
            await asyncio.sleep(3600)
        if mode == "disconnect":
            await self._connection.close()
            await asyncio.sleep(3600)
        delay = self.behaviour.get(f"{action}.delay")
        if delay:
            await asyncio.sleep(delay)
        if mode == "answer-then-disconnect":
            # Like Reset Hard: the reply goes out, then the socket drops.
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, lambda: asyncio.ensure_future(self._connection.close()))
        answer = self.answers.get(action, DEFAULT_ANSWERS.get(action, {"status": "Accepted"}))
        return getattr(call_result, action)(**camel_to_snake_case(answer))

    async def wait_for(self, action: str, timeout: float = 10) -> dict:
        async def poll():
            while True:
                for name, kwargs in self.received:
                    if name == action:
                        return kwargs
                self.received_event.clear()
                await self.received_event.wait()

        return await asyncio.wait_for(poll(), timeout)

    async def boot(self):
        return await self.call(
            call.BootNotification(charge_point_model="T1", charge_point_vendor="EVPowerTest")
        )


for _action in CENTRAL_ACTIONS:
    setattr(TestStation, f"on_central_{_action}", _answering(_action))


@contextlib.asynccontextmanager
async def station_session(
    server, station_id: str, password: str | None = None, boot: bool = True, **connect_kwargs
):
    """Connect a TestStation to `server`, run it, close it afterwards."""
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    ws = await websockets.connect(
        server.ws_url(station_id), subprotocols=["ocpp1.6"], additional_headers=headers, **connect_kwargs
    )
    station = TestStation(station_id, ws)
    task = asyncio.create_task(station.start())
    try:
        if boot:
            await station.boot()
        yield station
    finally:
        task.cancel()
        await ws.close()


def ws_path(station_id: str) -> str:
    return "/ws/" + quote(station_id, safe="")


async def eventually(check, timeout: float = 5):
    """Poll an async check until it holds (the server commits asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
