"""Text PostgreSQL cannot store (NUL, lone surrogates) must not lose frames or log rows."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from ocpp_gateway import commands
from ocpp_gateway.runtime import committer
from stations.models import MessageLog, Station
from tests.live import http
from tests.station import station_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("data", "answer", "logged"),
    [
        ('"a\\u0000b"', 4, "a\ufffdb"),  # a NUL: refused (PropertyConstraintViolation), logged cleaned
        ('"\\\\u0000"', 3, "\\u0000"),  # a backslash and the text "u0000": plain text, taken
    ],
)
async def test_a_stations_text_is_refused_only_if_no_database_stores_it(raw_station, data, answer, logged):
    station = await raw_station("CP-NUL")
    await station.comm.send_to(text_data=f'[2,"n1","DataTransfer",{{"vendorId":"acme","data":{data}}}]')
    reply = await station.reply("n1")
    assert reply[0] == answer
    assert (await station.call("Heartbeat", {}))[0] == 3  # the connection lives
    await committer().drain()
    row = await MessageLog.objects.aget(station_id="CP-NUL", unique_id="n1", direction="in")
    assert row.payload["data"] == logged


async def test_lone_surrogate_from_station_is_refused_and_logged(raw_station):
    station = await raw_station("CP-SUR")
    await station.comm.send_to(text_data='[2,"s1","DataTransfer",{"vendorId":"acme","data":"x\\ud800y"}]')
    reply = await station.reply("s1")
    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation"
    # A real character beyond the BMP (a surrogate pair in JSON) is fine.
    emoji = await station.call("DataTransfer", {"vendorId": "acme", "data": "charging \U0001f50c"})
    assert emoji[0] == 3
    await committer().drain()
    assert await MessageLog.objects.filter(station_id="CP-SUR", unique_id="s1").aexists()


@pytest.mark.e2e
async def test_command_payload_with_nul_is_sent_answered_and_logged(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-NULCMD") as station:
        await station.wait_for("GetConfiguration")
        body = {
            "station_id": "CP-NULCMD",
            "command": "DataTransfer",
            "payload": {"vendorId": "v", "data": "a\u0000b"},
        }
        response = await http(server, "POST", "/ocpp/send_command", key, body)
        assert response.status_code == 200, response.text
        assert dict(station.received)["DataTransfer"]["data"] == "a\u0000b"  # sent exactly as given
    logged = await MessageLog.objects.filter(
        station_id="CP-NULCMD", action="DataTransfer", direction="out", message_type="CALL"
    ).afirst()
    assert logged is not None and logged.payload["data"] == "a\ufffdb"


@pytest.mark.parametrize(
    "frame",
    [
        '[2,"u\\u00001","Heartbeat",{}]',  # NUL in the unique id
        '[2,"u\\ud8002","Heartbeat",{}]',  # a lone surrogate in it
        '[2,"u3","Heart\\u0000beat",{}]',  # NUL in the action
    ],
)
async def test_unstorable_text_outside_the_payload_loses_no_log_row(raw_station, frame):
    station = await raw_station("CP-UID")
    await station.comm.send_to(text_data=frame)
    reply = await station.reply(json.loads(frame)[1])
    assert reply[0] == 4
    beat = await station.call("Heartbeat", {})  # the connection lives
    assert beat[0] == 3
    await committer().drain()
    logged = sorted(
        [(row.direction, row.message_type) async for row in MessageLog.objects.filter(station_id="CP-UID")]
    )
    # The refused frame and its CALLERROR (cleaned), the heartbeat and its answer.
    assert logged == [("in", "CALL"), ("in", "CALL"), ("out", "CALLERROR"), ("out", "CALLRESULT")]


async def test_an_escaped_backslash_does_not_hide_a_lone_surrogate(raw_station):
    station = await raw_station("CP-ESC")
    # A backslash, the text "ud800", then a lone low surrogate: it pairs with nothing.
    await station.comm.send_to(
        text_data='[2,"e1","DataTransfer",{"vendorId":"acme","data":"\\\\ud800\\udc00"}]'
    )
    reply = await station.reply("e1")
    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation"


async def test_a_reply_with_nul_is_taken_cleaned_and_recorded(raw_station):
    station = await raw_station("CP-NULREPLY")
    pk = await Station.objects.filter(station_id="CP-NULREPLY").values_list("pk", flat=True).aget()
    sent = asyncio.create_task(
        commands.command_send(
            station=commands.Address(pk, "CP-NULREPLY"), action="GetConfiguration", payload={}
        )
    )
    frame = json.loads(await station.comm.receive_from(timeout=5))
    key = {"key": "Vendor\u0000Key", "readonly": True, "value": "a\u0000b"}
    await station.comm.send_to(text_data=json.dumps([3, frame[1], {"configurationKey": [key]}]))
    answer = await asyncio.wait_for(sent, 5)
    assert answer["configurationKey"][0]["value"] == "a\ufffdb"
    await committer().drain()
    configuration = await Station.objects.values_list("configuration", flat=True).aget(pk=pk)
    assert configuration["Vendor\ufffdKey"]["value"] == "a\ufffdb"


async def test_an_action_longer_than_its_column_is_logged_cut(raw_station):
    station = await raw_station("CP-LONG")
    await station.comm.send_to(text_data=json.dumps([2, "long1", "X" * 100, {}]))
    assert (await station.reply("long1"))[2] == "NotImplemented"
    await committer().drain()
    actions = [
        a
        async for a in MessageLog.objects.filter(station_id="CP-LONG", unique_id="long1").values_list(
            "action", flat=True
        )
    ]
    assert actions == ["X" * 64, "X" * 64]  # the CALL and its CALLERROR
