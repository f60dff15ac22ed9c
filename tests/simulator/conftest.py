import asyncio
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token

from billing.models import Tariff
from simulator.station import SimulatedStation, StationOptions
from tests.factories import IdTagFactory, StationFactory, UserFactory
from tests.live import http

# Short intervals: tests wait for events, never for the clock.
FAST = {
    "meter_interval": 1,
    "reconnect_min": 0.2,
    "reconnect_max": 0.5,
    "step_seconds": 0.2,
    "boot_retry": 0.5,
    "response_timeout": 15,
}


async def eventually(check, timeout: float = 20, interval: float = 0.1):
    """Poll `check` (sync or async) until it returns a truthy value; return that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert loop.time() < deadline, f"still false after {timeout} s: {check}"
        await asyncio.sleep(interval)


@pytest.fixture
async def simulate():
    """`await simulate(server, station_id, **options)`: a SimulatedStation running in this
    event loop against `server`, returned once booted and its connectors
    reported (`boot=False`: at once)."""
    running = []

    async def start(server, station_id: str, boot: bool = True, **options) -> SimulatedStation:
        station = SimulatedStation(
            StationOptions(station_id=station_id, url=server.ws_url(station_id), **{**FAST, **options})
        )
        running.append((station, asyncio.create_task(station.run())))
        if boot:
            await eventually(lambda: station.reported)
        return station

    yield start
    for station, task in running:
        task.cancel()
        station.close()
        await asyncio.gather(task, return_exceptions=True)


class Api:
    """HTTP calls to a live server with one token."""

    def __init__(self, server, token: str):
        self.server, self.token = server, token

    async def get(self, path: str, **params):
        response = await http(self.server, "GET", path, self.token, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, body: dict | None = None, expect: int = 200):
        response = await http(self.server, "POST", path, self.token, body)
        assert response.status_code == expect, response.text
        return response.json()

    async def command(self, station_id: str, command: str, payload: dict) -> dict:
        """send_command; returns the station's response payload."""
        body = {"station_id": station_id, "command": command, "payload": payload}
        return (await self.post("/ocpp/send_command", body))["response"]

    async def status(self, station_id: str) -> dict:
        return await self.get(f"/ocpp/status/{quote(station_id, safe='')}")

    async def messages(self, station_id: str, action: str, direction: str = "in") -> list[dict]:
        params = {"station_id": station_id, "action": action, "direction": direction, "message_type": "CALL"}
        return (await self.get("/ocpp/messages", **params))["results"]


@pytest.fixture
def operator_api(live_token):
    async def make(server) -> Api:
        return Api(server, await sync_to_async(live_token)("operator"))

    return make


@sync_to_async
def driver_token(station_id: str, tag: str, **tariff) -> str:
    """A client owning `tag`, the station registered, maybe a tariff; the client's token."""
    user = UserFactory()
    IdTagFactory(id_tag=tag, owner=user)
    StationFactory(station_id=station_id, time_zone="UTC")
    if tariff:
        Tariff.objects.create(name="Simulated", currency="EUR", **tariff)
    return Token.objects.create(user=user).key
