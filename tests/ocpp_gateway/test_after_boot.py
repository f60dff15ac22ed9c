"""After an accepted boot: GetConfiguration at once (unless known); TriggerMessage
(StatusNotification) only for a station that has not reported its connectors
within the grace period."""

import asyncio
import json

import pytest

from stations.models import MessageLog, Station
from tests.ocpp_gateway.conftest import communicator_for

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = [2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
STATUS = [
    2,
    "status",
    "StatusNotification",
    {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
]


class StationClient:
    """Answers every call of the central system and remembers its actions."""

    def __init__(self, comm):
        self.comm = comm
        self.calls: list[tuple[str, dict]] = []

    async def send(self, frame: list) -> None:
        await self.comm.send_to(text_data=json.dumps(frame))

    async def read(self, timeout: float) -> list:
        """The next frame; a call from the central system is answered and recorded."""
        frame = json.loads(await self.comm.receive_from(timeout=timeout))
        if frame[0] == 2:
            self.calls.append((frame[2], frame[3]))
            answer = {} if frame[2] == "GetConfiguration" else {"status": "Accepted"}
            await self.send([3, frame[1], answer])
        return frame

    async def until_reply(self, unique_id: str) -> None:
        while (await self.read(5))[1] != unique_id:
            pass

    async def until_call(self, action: str) -> None:
        while not any(name == action for name, _ in self.calls):
            await self.read(10)

    async def listen(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    await self.read(seconds)
        except TimeoutError:
            pass


@pytest.fixture
async def station(settings, close_writer):
    settings.OCPP = {**settings.OCPP, "STATUS_TRIGGER_DELAY": 0.5}
    comm = await communicator_for("CP-AFTER-BOOT")
    assert (await comm.connect())[0]
    yield StationClient(comm)
    await comm.disconnect()


async def test_station_that_reports_its_connectors_gets_no_trigger_message(station):
    await station.send(BOOT)
    await station.until_reply("boot")
    await station.send(STATUS)
    await station.until_reply("status")
    await station.listen(2)  # four times the grace period
    assert [name for name, _ in station.calls] == ["GetConfiguration"]


async def test_silent_station_is_asked_for_its_status_after_the_grace_period(station):
    await station.send(BOOT)
    await station.until_reply("boot")
    await station.until_call("TriggerMessage")
    assert station.calls == [
        ("GetConfiguration", {}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification"}),
    ]


KNOWN = {"HeartbeatInterval": {"value": "300", "readonly": False}}


@pytest.mark.parametrize(
    ("configuration", "boot", "asked"),
    [
        ({}, BOOT, True),  # not known yet
        (KNOWN, BOOT, False),  # known, the station reports itself as before
        (KNOWN, [2, "boot", "BootNotification", {**BOOT[3], "firmwareVersion": "2.0"}], True),
        ({"HeartbeatInterval": {**KNOWN["HeartbeatInterval"], "reboot_required": True}}, BOOT, True),
    ],
    ids=["unknown", "unchanged", "new-firmware", "reboot-required-pending"],
)
async def test_configuration_is_asked_after_boot_only_when_it_may_have_changed(
    settings, close_writer, configuration, boot, asked
):
    settings.OCPP = {**settings.OCPP, "STATUS_TRIGGER_DELAY": 60}
    await Station.objects.acreate(station_id="CP-KNOWN", vendor="V", model="M", configuration=configuration)
    comm = await communicator_for("CP-KNOWN")
    assert (await comm.connect())[0]
    station = StationClient(comm)
    await station.send(boot)
    await station.until_reply("boot")
    await station.listen(1)
    assert [name for name, _ in station.calls] == (["GetConfiguration"] if asked else [])
    await comm.disconnect()


async def test_the_message_log_keeps_the_wire_order_of_a_call_and_a_reply_behind_it(station):
    """A station's call is handled in a task of its own while a reply read
    right behind it is routed at once: the log still says which came first."""
    await station.send(BOOT)
    while True:
        frame = json.loads(await station.comm.receive_from(timeout=5))
        if frame[0] == 2 and frame[2] == "GetConfiguration":
            break
    # The station's own call, then (already queued behind it) its answer to ours.
    await station.send([2, "hb", "Heartbeat", {}])
    await station.send([3, frame[1], {"configurationKey": []}])
    await station.until_reply("hb")
    await station.listen(0.5)
    rows = [
        (row.message_type, row.action)
        async for row in MessageLog.objects.filter(station_id="CP-AFTER-BOOT", direction="in")
        .exclude(action="BootNotification")
        .order_by("created_at", "id")
    ]
    assert rows[:2] == [("CALL", "Heartbeat"), ("CALLRESULT", "GetConfiguration")]
