"""The simulator's connection life: passwords, Pending boots, server restarts."""

import asyncio
import logging

import pytest
from asgiref.sync import sync_to_async

from stations.models import Station
from tests import live
from tests.simulator.conftest import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "Simulated-AuthorizationKey-42"


@sync_to_async
def protect(station_id: str) -> None:
    station = Station(station_id=station_id)
    station.set_password(SECRET)
    station.save()


async def test_the_right_password_connects(server, simulate, operator_api):
    await protect("SIM-PW")
    await simulate(server, "SIM-PW", password=SECRET)
    assert (await (await operator_api(server)).status("SIM-PW"))["online"] is True


async def test_a_wrong_password_is_refused_and_retried(server, simulate, caplog):
    caplog.set_level(logging.WARNING, logger="simulator.station")
    await protect("SIM-PW-BAD")
    station = await simulate(server, "SIM-PW-BAD", password="wrong", boot=False)

    def refusals():
        return [r for r in caplog.records if "SIM-PW-BAD: cannot connect (refused: HTTP 40" in r.getMessage()]

    await eventually(lambda: len(refusals()) >= 2)  # it keeps trying, with back-off
    assert station.boots == 0 and station.messages_out == 0


async def test_pending_boot_is_retried_until_accepted(start_server, simulate, live_token):
    server = start_server(OCPP_UNKNOWN_STATIONS="pending", OCPP_HEARTBEAT_INTERVAL="1")
    station = await simulate(server, "SIM-PENDING", boot=False)
    await eventually(lambda: station.registration == "Pending" and station.messages_out >= 2)
    assert not station.booted

    admin = await sync_to_async(live_token)("admin")
    response = await live.http(
        server, "PATCH", "/ocpp/stations/SIM-PENDING", admin, {"registration_status": "accepted"}
    )
    assert response.status_code == 200, response.text
    await eventually(lambda: station.booted)
    assert station.registration == "Accepted"


async def test_reconnects_and_boots_again_after_the_server_restarts(
    start_server, simulate, operator_api, monkeypatch
):
    server = start_server(fresh=True)
    api = await operator_api(server)
    station = await simulate(server, "SIM-RESTART")
    server.kill()
    await eventually(lambda: not station.connected)

    monkeypatch.setattr(live, "_free_port", lambda: server.port)  # the same address again
    restarted = await asyncio.to_thread(start_server, fresh=True)
    assert restarted.port == server.port
    await eventually(lambda: station.boots == 2 and station.booted)

    async def booted_twice():
        return len(await api.messages("SIM-RESTART", "BootNotification")) == 2

    await eventually(booted_twice)
