"""Several server processes on one network (PostgreSQL + Redis)."""

import asyncio
import os

import pytest
from ocpp.v16 import call

from tests.live import http
from tests.station import station_session

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (multi-process needs Redis)"),
]

FAST_PRESENCE = {"OCPP_PRESENCE_PROCESS_TTL": "3", "OCPP_PRESENCE_FLUSH_SECONDS": "1"}


@pytest.fixture
def key(live_token):
    return live_token()


async def connected_ids(server, key) -> set[str]:
    response = await http(server, "GET", "/ocpp/connections", key)
    assert response.status_code == 200
    return {c["station_id"] for c in response.json()["results"]}


async def test_station_on_one_process_is_commanded_through_another(start_server, key):
    a = start_server(fresh=True, **FAST_PRESENCE)
    b = start_server(fresh=True, **FAST_PRESENCE)
    async with station_session(a, "CP-MULTI") as station:
        await station.wait_for("GetConfiguration")
        assert "CP-MULTI" in await connected_ids(b, key)
        station.answers["Reset"] = {"status": "Rejected"}
        response = await http(
            b,
            "POST",
            "/ocpp/send_command",
            key,
            {"station_id": "CP-MULTI", "command": "Reset", "payload": {"type": "Soft"}},
        )
        assert response.status_code == 200, response.text
        assert response.json()["response"] == {"status": "Rejected"}
        status = await http(b, "GET", "/ocpp/status/CP-MULTI", key)
        if status.status_code == 200:
            assert status.json()["online"] is True


async def test_killed_process_stations_drop_out_and_reconnect_elsewhere(start_server, key):
    a = start_server(fresh=True, **FAST_PRESENCE)
    b = start_server(fresh=True, **FAST_PRESENCE)
    async with station_session(a, "CP-ORPHAN") as station:
        await station.wait_for("GetConfiguration")
        assert "CP-ORPHAN" in await connected_ids(b, key)
        a.kill()
        for _ in range(100):
            if "CP-ORPHAN" not in await connected_ids(b, key):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("a dead process's station still listed after 10 s")
    async with station_session(b, "CP-ORPHAN"):
        assert "CP-ORPHAN" in await connected_ids(b, key)


async def test_a_closed_connection_leaves_every_process_list(start_server, key):
    a = start_server(fresh=True, **FAST_PRESENCE)
    b = start_server(fresh=True, **FAST_PRESENCE)
    async with station_session(a, "CP-BYE"):
        assert "CP-BYE" in await connected_ids(b, key)
    for _ in range(50):
        if "CP-BYE" not in await connected_ids(b, key):
            return
        await asyncio.sleep(0.1)
    pytest.fail("closed station still listed")


async def test_replacing_connection_across_processes_closes_the_old_one(start_server, key):
    a = start_server(fresh=True, **FAST_PRESENCE)
    b = start_server(fresh=True, **FAST_PRESENCE)
    async with station_session(a, "CP-MOVE") as old, station_session(b, "CP-MOVE") as new:
        await asyncio.wait_for(old._connection.wait_closed(), 10)
        # (Booted as before, with its configuration known: not asked for it again.)
        await new.call(call.Heartbeat())
        assert "CP-MOVE" in await connected_ids(a, key)
