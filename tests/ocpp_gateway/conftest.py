import json

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from ocpp_gateway.routing import websocket_urlpatterns
from ocpp_gateway.runtime import committer
from tests.station import ws_path


@pytest.fixture
async def close_writer():
    """Close the in-process writer's DB connection after a communicator test."""
    yield
    await committer().close()


class Raw:
    """A raw OCPP-J conversation over a WebsocketCommunicator (in-process)."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.comm = communicator
        self._n = 0

    async def call(self, action: str, payload: dict) -> list:
        self._n += 1
        unique_id = f"t{self._n}"
        await self.comm.send_to(text_data=json.dumps([2, unique_id, action, payload]))
        return await self.reply(unique_id)

    async def reply(self, unique_id: str | None = None, timeout: float = 5) -> list:
        while True:
            frame = json.loads(await self.comm.receive_from(timeout=timeout))
            if frame[0] == 2:  # a call from the central system (after boot): not ours
                continue
            if unique_id is None or frame[1] == unique_id:
                return frame


async def communicator_for(station_id: str, subprotocols=("ocpp1.6",), headers=()) -> WebsocketCommunicator:
    app = URLRouter(websocket_urlpatterns)
    return WebsocketCommunicator(
        app, ws_path(station_id), subprotocols=list(subprotocols), headers=list(headers)
    )


@pytest.fixture
async def raw_station():
    opened = []

    async def connect(station_id: str = "CP-RAW", **kwargs) -> Raw:
        comm = await communicator_for(station_id, **kwargs)
        connected, subprotocol = await comm.connect()
        assert connected, "connection refused"
        assert subprotocol == "ocpp1.6"
        opened.append(comm)
        return Raw(comm)

    yield connect
    for comm in opened:
        await comm.disconnect()
    await committer().close()


@pytest.fixture(autouse=True)
def _station_settings(settings):
    settings.OCPP = {**settings.OCPP, "CALL_TIMEOUT": 5}
