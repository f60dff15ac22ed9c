"""The Redis channel layer under redis-py 8 (5 s default socket timeout):
blocking reads outlive channels-redis' 5 s BZPOPMIN, a hung Redis is still noticed."""

import asyncio
import os
import signal

import pytest
from asgiref.sync import sync_to_async

from tests.live import http
from tests.redis_server import PrivateRedis
from tests.station import station_session

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set"),
]

LAYER_ERROR = "Channel layer unreachable"


@pytest.fixture
def private_redis():
    """A redis-server of this test's own, which it may freeze (SIGSTOP).
    (Where REDIS_URL is set, redis-server is installed: .ci/run starts one.)"""
    instance = PrivateRedis()
    instance.start()
    yield instance
    if instance.proc is not None:
        instance.proc.send_signal(signal.SIGCONT)
    instance.stop()


async def test_idle_station_logs_no_layer_error_and_a_hung_redis_is_noticed(start_server, private_redis):
    server = start_server(fresh=True, REDIS_URL=f"redis://127.0.0.1:{private_redis.port}/0")
    async with station_session(server, "CP-IDLE") as station:
        await station.wait_for("GetConfiguration")
        await asyncio.sleep(30)
        assert LAYER_ERROR not in server.output()
        assert "TimeoutError" not in server.output()

        # A Redis that stops answering (frozen host, not a closed socket) is
        # only noticed by the read timeout: it must still be finite.
        private_redis.proc.send_signal(signal.SIGSTOP)
        for _ in range(60):
            if LAYER_ERROR in server.output():
                break
            await asyncio.sleep(0.5)
        assert LAYER_ERROR in server.output()


async def test_command_answered_after_20_seconds_returns_200(start_server, live_token):
    server = start_server(fresh=True, OCPP_CALL_TIMEOUT="30")
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-SLOW") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["ClearCache.delay"] = 20
        body = {"station_id": "CP-SLOW", "command": "ClearCache", "payload": {}}
        response = await http(server, "POST", "/ocpp/send_command", key, body)
        assert response.status_code == 200, response.text
        assert response.json()["response"] == {"status": "Accepted"}
