"""A Redis outage must not stop charging: stations stay connected and are
answered; live state and commands come back when Redis does."""

import asyncio
import shutil

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from billing.models import Transaction
from tests.live import http
from tests.redis_server import PrivateRedis
from tests.station import now_iso, station_session

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


@pytest.fixture
def redis():
    instance = PrivateRedis()
    instance.start()
    yield instance
    instance.stop()


async def test_stations_keep_charging_through_a_redis_outage(start_server, live_token, redis):
    server = start_server(
        fresh=True,
        REDIS_URL=redis.url,
        OCPP_PRESENCE_FLUSH_SECONDS="1",
        OCPP_PRESENCE_PROCESS_TTL="3",
    )
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-OUTAGE") as station:
        await station.wait_for("GetConfiguration")
        redis.stop()

        started = await station.call(
            call.StartTransaction(connector_id=1, id_tag="T1", meter_start=0, timestamp=now_iso())
        )
        assert await Transaction.objects.filter(pk=started.transaction_id).aexists()
        down = await http(server, "GET", "/ocpp/connections", key)
        assert down.status_code == 503
        assert down.json()["error"] == "unavailable"

        redis.start()  # back, and empty
        body = {"station_id": "CP-OUTAGE", "command": "Reset", "payload": {"type": "Soft"}}
        for _ in range(60):
            response = await http(server, "POST", "/ocpp/send_command", key, body)
            if response.status_code == 200:
                break
            await asyncio.sleep(0.5)
        assert response.status_code == 200, response.text
        heartbeat = await station.call(call.Heartbeat())
        assert heartbeat.current_time
