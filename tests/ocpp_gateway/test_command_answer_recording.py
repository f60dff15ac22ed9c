"""When a command's caller gets the station's answer: at once if the answer
changes nothing we keep, only once it is recorded if it does (so that what
the caller reads next already says so)."""

import asyncio
import json
import threading

import pytest

from ocpp_gateway import commands
from ocpp_gateway.runtime import committer
from stations.models import Connector, Station

pytestmark = pytest.mark.django_db(transaction=True)


async def _answer_next_call(station, payload: dict) -> list:
    frame = json.loads(await station.comm.receive_from(timeout=5))
    await station.comm.send_to(text_data=json.dumps([3, frame[1], payload]))
    return frame


@pytest.fixture
async def busy_writer():
    """Holds the writer thread in a long commit (once the station is
    connected: connecting needs the writer too) until the test releases it."""
    release = threading.Event()
    held = []

    def hold() -> threading.Event:
        held.append(asyncio.ensure_future(committer().run(lambda batch: release.wait(10))))
        return release

    yield hold
    release.set()
    for future in held:
        await future


async def _address(station_id: str) -> commands.Address:
    pk = await Station.objects.filter(station_id=station_id).values_list("pk", flat=True).aget()
    return commands.Address(pk, station_id)


async def test_an_answer_that_records_nothing_is_not_held_up_by_the_writer(raw_station, busy_writer):
    station = await raw_station("CP-QUICK")
    address = await _address("CP-QUICK")
    busy_writer()
    sent = asyncio.create_task(
        commands.command_send(station=address, action="RemoteStopTransaction", payload={"transactionId": 7})
    )
    await _answer_next_call(station, {"status": "Accepted"})

    assert await asyncio.wait_for(sent, 2) == {"status": "Accepted"}


async def test_an_answer_that_changes_the_configuration_is_recorded_before_the_caller_has_it(
    raw_station, busy_writer
):
    station = await raw_station("CP-CONF")
    address = await _address("CP-CONF")
    release = busy_writer()
    sent = asyncio.create_task(
        commands.command_send(
            station=address, action="ChangeConfiguration", payload={"key": "HeartbeatInterval", "value": "60"}
        )
    )
    await _answer_next_call(station, {"status": "Accepted"})
    await asyncio.sleep(0.5)
    assert not sent.done()  # waits for the writer

    release.set()
    assert await asyncio.wait_for(sent, 5) == {"status": "Accepted"}
    configuration = await Station.objects.values_list("configuration", flat=True).aget(pk=address.pk)
    assert configuration["HeartbeatInterval"]["value"] == "60"


async def test_a_reply_is_read_while_the_stations_own_call_waits_for_its_commit(raw_station, busy_writer):
    station = await raw_station("CP-BOTH")
    address = await _address("CP-BOTH")
    release = busy_writer()
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
    await station.comm.send_to(text_data=json.dumps([2, "s-1", "StatusNotification", status]))
    sent = asyncio.create_task(
        commands.command_send(station=address, action="RemoteStopTransaction", payload={"transactionId": 7})
    )
    await _answer_next_call(station, {"status": "Accepted"})

    assert await asyncio.wait_for(sent, 2) == {"status": "Accepted"}
    assert await station.comm.receive_nothing(timeout=0.2)  # its StatusNotification still waits
    release.set()
    assert json.loads(await station.comm.receive_from(timeout=5)) == [3, "s-1", {}]


async def test_the_stations_calls_are_still_handled_one_at_a_time_in_order(raw_station, busy_writer):
    station = await raw_station("CP-ORDER")
    release = busy_writer()
    for n, status in enumerate(("Preparing", "Charging", "Finishing")):
        payload = {"connectorId": 1, "errorCode": "NoError", "status": status}
        await station.comm.send_to(text_data=json.dumps([2, f"s-{n}", "StatusNotification", payload]))
    assert await station.comm.receive_nothing(timeout=0.2)
    release.set()

    answered = [json.loads(await station.comm.receive_from(timeout=5))[1] for _ in range(3)]
    assert answered == ["s-0", "s-1", "s-2"]
    latest = await Connector.objects.values_list("status", flat=True).aget(
        station__station_id="CP-ORDER", connector_id=1
    )
    assert latest == "Finishing"
