"""Bad input from a station: answered with the right CALLERROR, connection lives."""

import asyncio
import json

import pytest

from ocpp_gateway.runtime import runtime
from stations.models import MessageLog, Station

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_alive(station):
    frame = await station.call("Heartbeat", {})
    assert frame[0] == 3 and "currentTime" in frame[2]


@pytest.mark.parametrize(
    ("raw", "code", "unique_id"),
    [
        ("not json at all", "FormationViolation", "-1"),
        ('{"an": "object"}', "ProtocolError", "-1"),
        ('[2, "only-two"]', "ProtocolError", "only-two"),
        ('[7, "u1", "Heartbeat", {}]', "ProtocolError", "u1"),
        ('[2, 42, "Heartbeat", {}]', "ProtocolError", "-1"),
        ('[2, "u2", "Heartbeat", "payload"]', "FormationViolation", "u2"),
        ('[2, "u3", "Heartbeat", {"x": NaN}]', "FormationViolation", "-1"),
        ('[2, "u4", "Heartbeat", {"x": -Infinity}]', "FormationViolation", "-1"),
        ('[2, "u5", "Heartbeat", {"x": 1e400}]', "FormationViolation", "-1"),
    ],
)
async def test_non_ocpp_frame_gets_callerror_and_connection_lives(raw_station, raw, code, unique_id):
    station = await raw_station()
    await station.comm.send_to(text_data=raw)
    frame = json.loads(await station.comm.receive_from())
    assert frame[0] == 4
    assert frame[1] == unique_id
    assert frame[2] == code
    await assert_alive(station)


async def test_unknown_action_is_not_implemented(raw_station):
    station = await raw_station()
    frame = await station.call("MakeCoffee", {})
    assert frame[2] == "NotImplemented"
    await assert_alive(station)


async def test_central_system_action_from_station_is_not_supported(raw_station):
    station = await raw_station()
    frame = await station.call("Reset", {"type": "Hard"})
    assert frame[2] == "NotSupported"


SCHEMA_FAULTS = [
    ("StatusNotification", {"connectorId": 1, "status": "Available"}, "OccurenceConstraintViolation"),
    (
        "StatusNotification",
        {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
        "TypeConstraintViolation",
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
        "PropertyConstraintViolation",
    ),
    ("Heartbeat", {"unexpected": True}, "FormationViolation"),
    ("Authorize", {"idTag": "X" * 21}, "TypeConstraintViolation"),
    ("MeterValues", {"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation"),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": "2026-13-45T10:00:00Z", "sampledValue": [{"value": "1"}]}],
        },
        "TypeConstraintViolation",
    ),
    (
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-02-30T10:00:00Z"},
        "TypeConstraintViolation",
    ),
]
# Of these, only this one is a known vendor quirk (an extra property).
QUIRK = ("Heartbeat", {"unexpected": True}, "FormationViolation")


@pytest.mark.parametrize(("action", "payload", "code"), SCHEMA_FAULTS)
async def test_schema_violation_gets_matching_1_6_error_code(raw_station, settings, action, payload, code):
    settings.OCPP = {**settings.OCPP, "TOLERANCE": "strict"}
    station = await raw_station()
    frame = await station.call(action, payload)
    assert frame[0] == 4
    assert frame[2] == code
    await assert_alive(station)


@pytest.mark.parametrize(("action", "payload", "code"), [f for f in SCHEMA_FAULTS if f != QUIRK])
async def test_schema_violation_that_is_no_known_quirk_is_refused_by_the_lenient_default_too(
    raw_station, action, payload, code
):
    station = await raw_station()
    frame = await station.call(action, payload)
    assert frame[0] == 4
    assert frame[2] == code
    await assert_alive(station)


async def test_oversized_frame_is_refused_with_1009(raw_station):
    station = await raw_station()
    big = json.dumps([2, "big", "DataTransfer", {"vendorId": "V", "data": "x" * (1024 * 1024 + 10)}])
    await station.comm.send_to(text_data=big)
    closed = await station.comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1009}


async def test_frame_just_under_limit_is_accepted(raw_station):
    station = await raw_station()
    frame = await station.call("DataTransfer", {"vendorId": "V", "data": "x" * (1024 * 1024 - 200)})
    assert frame[0] == 3 and frame[2] == {"status": "UnknownVendorId"}


async def test_bad_frames_are_logged_in_and_out(raw_station):
    station = await raw_station("CP-LOG")
    await station.comm.send_to(text_data="garbage")
    await station.comm.receive_from()
    await assert_alive(station)
    await station.comm.disconnect()
    from ocpp_gateway.runtime import committer

    await committer().drain()
    rows = [
        (m.direction, m.message_type, m.action)
        async for m in MessageLog.objects.filter(station_id="CP-LOG").order_by("created_at", "id")
    ]
    assert ("in", "INVALID", "") in rows
    assert ("out", "CALLERROR", "") in rows
    assert ("in", "CALL", "Heartbeat") in rows
    assert ("out", "CALLRESULT", "Heartbeat") in rows


async def test_station_flooding_frames_is_disconnected_not_buffered_forever(raw_station, monkeypatch):
    import asyncio

    from ocpp_gateway import consumers
    from ocpp_gateway.chargepoint import CentralSystem

    async def slow_handle_call(self, msg):
        await asyncio.sleep(0.5)  # a central system busy (slow database)

    monkeypatch.setattr(consumers, "MAX_QUEUED_FRAMES", 5)
    monkeypatch.setattr(CentralSystem, "_handle_call", slow_handle_call)
    station = await raw_station("CP-FLOOD")
    for n in range(50):
        await station.comm.send_to(text_data=json.dumps([2, f"f{n}", "Heartbeat", {}]))
    closed = await station.comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1008}


async def test_a_frame_json_cannot_write_back_is_logged_as_its_text(raw_station):
    from ocpp_gateway.runtime import committer

    station = await raw_station()
    raw = '[2, "nan-1", "Heartbeat", {"x": NaN}]'
    await station.comm.send_to(text_data=raw)
    assert json.loads(await station.comm.receive_from())[2] == "FormationViolation"
    await assert_alive(station)
    await committer().drain()
    # Stored (as text), and so are the frames that shared its commit.
    payloads = [p async for p in MessageLog.objects.filter(direction="in").values_list("payload", flat=True)]
    assert {"raw": raw} in payloads
    assert any(p == {} for p in payloads)  # the Heartbeat after it


async def test_an_answered_call_is_let_go_before_the_next_frame(raw_station):
    # A station sends every minute or so: its last call's task, coroutines
    # and futures must not live (and be walked by the collector) until then.
    station = await raw_station("CP-LETGO")
    pk = await Station.objects.filter(station_id="CP-LETGO").values_list("pk", flat=True).aget()
    link = runtime.connections[pk]
    await assert_alive(station)
    for _ in range(100):
        if link._handling is None:
            break
        await asyncio.sleep(0.01)
    assert link._handling is None
    await assert_alive(station)  # and the next call is handled as ever
