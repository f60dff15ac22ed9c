"""The WebSocket handshake: subprotocol, station ids, registration policy, Basic auth."""

import asyncio
import base64
import json
import threading

import pytest
from asgiref.sync import sync_to_async

from ocpp_gateway.runtime import committer
from stations.models import RegistrationStatus, Station
from tests.ocpp_gateway.conftest import Raw, communicator_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def writer():
    yield
    await committer().close()


def basic(user: str, password: str) -> tuple:
    return (b"authorization", b"Basic " + base64.b64encode(f"{user}:{password}".encode()))


async def connects(station_id: str, **kwargs) -> bool:
    comm = await communicator_for(station_id, **kwargs)
    connected, _ = await comm.connect()
    await comm.disconnect()  # also a refused one: it ends the consumer, as a server would
    return connected


async def test_subprotocol_is_required_and_echoed(writer):
    assert not await connects("CP-1", subprotocols=[])
    assert not await connects("CP-1", subprotocols=["ocpp2.0.1"])
    comm = await communicator_for("CP-1", subprotocols=["ocpp2.0.1", "ocpp1.6"])
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol == "ocpp1.6"
    await comm.disconnect()


@pytest.mark.parametrize("station_id", ["A" * 49, "bad\x07id", "tab\tid"])
async def test_invalid_station_ids_are_refused(writer, station_id):
    assert not await connects(station_id)
    assert not await Station.objects.filter(station_id=station_id).aexists()


async def test_odd_but_valid_station_id_is_registered(writer):
    assert await connects("CP:01#A+B.2")
    assert await Station.objects.filter(station_id="CP:01#A+B.2").aexists()
    assert await connects("B" * 48)


async def test_reject_policy_refuses_unknown_station(writer, settings):
    settings.OCPP = {**settings.OCPP, "UNKNOWN_STATIONS": "reject"}
    assert not await connects("CP-NEW")
    assert not await Station.objects.filter(station_id="CP-NEW").aexists()
    await Station.objects.acreate(station_id="CP-KNOWN")
    assert await connects("CP-KNOWN")


@pytest.mark.parametrize(("policy", "expected"), [("accept", "Accepted"), ("pending", "Pending")])
async def test_unknown_station_policy_decides_boot_answer(writer, settings, policy, expected):
    settings.OCPP = {**settings.OCPP, "UNKNOWN_STATIONS": policy}
    comm = await communicator_for("CP-POLICY")
    assert (await comm.connect())[0]
    reply = await Raw(comm).call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert reply[2]["status"] == expected
    assert reply[2]["interval"] > 0
    await comm.disconnect()


async def test_rejected_station_boot_is_rejected(writer):
    await Station.objects.acreate(station_id="CP-R", registration_status=RegistrationStatus.REJECTED)
    comm = await communicator_for("CP-R")
    assert (await comm.connect())[0]
    reply = await Raw(comm).call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert reply[2]["status"] == "Rejected"
    await comm.disconnect()


async def test_station_with_password_requires_basic_auth(writer):
    station = Station(station_id="CP-SEC")
    station.set_password("0123456789abcdef")
    await sync_to_async(station.save)()
    assert "0123456789abcdef" not in station.password_hash

    assert not await connects("CP-SEC")
    assert not await connects("CP-SEC", headers=[basic("CP-SEC", "wrong")])
    assert not await connects("CP-SEC", headers=[basic("OTHER", "0123456789abcdef")])
    assert not await connects("CP-SEC", headers=[(b"authorization", b"Basic !!notbase64")])
    assert await connects("CP-SEC", headers=[basic("CP-SEC", "0123456789abcdef")])


async def test_new_connection_replaces_old_one(writer):
    first = await communicator_for("CP-TWICE")
    assert (await first.connect())[0]
    second = await communicator_for("CP-TWICE")
    assert (await second.connect())[0]
    closed = await first.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4000}
    await first.disconnect()
    reply = await Raw(second).call("Heartbeat", {})
    assert reply[0] == 3
    await second.disconnect()


async def test_boot_answer_comes_before_central_system_calls(writer):
    comm = await communicator_for("CP-ORDER")
    assert (await comm.connect())[0]
    await comm.send_to(
        text_data=json.dumps(
            [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        )
    )
    first = json.loads(await comm.receive_from())
    assert first[:2] == [3, "b1"]
    # Then, on its own, the central system asks for the configuration.
    follow_up = json.loads(await comm.receive_from())
    assert follow_up[0] == 2 and follow_up[2] == "GetConfiguration"
    await comm.disconnect()


@pytest.mark.parametrize("path", ["/ws/a%2Fb", "/ws/", "/elsewhere"])
async def test_other_websocket_paths_are_refused_cleanly(writer, path):
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from ocpp_gateway.routing import websocket_urlpatterns

    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path, subprotocols=["ocpp1.6"])
    connected, _ = await comm.connect()
    assert not connected
    # End the refusing consumer as the server would: left blocked in the Redis
    # layer's receive, its task would outlive the test's event loop.
    await comm.disconnect()


async def test_a_known_station_is_admitted_while_a_commit_is_in_progress(writer):
    """In a reconnect storm the writer is busy with the commits of the stations
    already in; a handshake must not wait for them."""
    await Station.objects.acreate(station_id="CP-DURING-COMMIT")
    release = threading.Event()
    busy = asyncio.ensure_future(committer().run(lambda batch: release.wait(10)))
    try:
        await asyncio.sleep(0.1)  # the writer thread is inside that commit now
        comm = await communicator_for("CP-DURING-COMMIT")
        connected, _ = await comm.connect(timeout=5)
        assert connected and not busy.done()
        await comm.disconnect()
    finally:
        release.set()
        await busy
