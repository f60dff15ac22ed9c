"""POST /ocpp/send_command end to end: a real server, a real OCPP client answering."""

import asyncio

import pytest
import requests
from asgiref.sync import sync_to_async

from evpower.models import Role
from tests.factories import StationFactory
from tests.live import http
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAYLOADS = {
    "CancelReservation": {"reservationId": 7},
    "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "120"},
    "ClearCache": {},
    "ClearChargingProfile": {"id": 3},
    "DataTransfer": {"vendorId": "com.acme", "messageId": "ping", "data": "x"},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "GetDiagnostics": {"location": "ftp://diag.example.com/upload"},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"idTag": "TAG1", "connectorId": 1},
    "RemoteStopTransaction": {"transactionId": 12},
    "ReserveNow": {
        "connectorId": 1,
        "expiryDate": "2030-01-01T00:00:00Z",
        "idTag": "TAG1",
        "reservationId": 9,
    },
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 1, "updateType": "Full", "localAuthorizationList": []},
    "SetChargingProfile": {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 5,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
                "startSchedule": "2030-01-01T00:00:00Z",
            },
        },
    },
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {"location": "https://fw.example.com/v2.bin", "retrieveDate": "2030-01-01T00:00:00Z"},
}


async def post(server, token: str | None, body: dict, **kwargs) -> requests.Response:
    return await http(server, "POST", "/ocpp/send_command", token, body, **kwargs)


async def test_all_nineteen_commands_reach_the_station_and_answer(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-CMD") as station:
        await station.wait_for("GetConfiguration")  # the after-boot calls are done
        for action, payload in PAYLOADS.items():
            response = await post(
                server, key, {"station_id": "CP-CMD", "command": action, "payload": payload}
            )
            assert response.status_code == 200, (action, response.text)
            body = response.json()
            expected = {"status": "Accepted"}
            if action == "GetConfiguration":
                expected = {
                    "configurationKey": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                    ]
                }
            elif action == "GetDiagnostics":
                expected = {"fileName": "diagnostics.zip"}
            elif action == "GetLocalListVersion":
                expected = {"listVersion": 0}
            elif action == "UnlockConnector":
                expected = {"status": "Unlocked"}
            elif action == "UpdateFirmware":
                expected = {}
            assert body["response"] == expected, action
            assert "status" in body
        received = [name for name, _ in station.received if name in PAYLOADS][-19:]
    assert received == list(PAYLOADS)


async def test_station_answer_status_is_passed_through(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-REJ") as station:
        station.answers["Reset"] = {"status": "Rejected"}
        response = await post(
            server, key, {"station_id": "CP-REJ", "command": "Reset", "payload": {"type": "Hard"}}
        )
    assert response.status_code == 200
    assert response.json() == {"status": "Rejected", "response": {"status": "Rejected"}}


async def test_payload_reaches_station_exactly_as_given(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-ORDER") as station:
        payload = {"value": "60", "key": "MeterValueSampleInterval"}
        response = await post(
            server, key, {"station_id": "CP-ORDER", "command": "ChangeConfiguration", "payload": payload}
        )
        assert response.status_code == 200
        # A connector the station lacks is the station's to refuse, not ours.
        response = await post(
            server,
            key,
            {"station_id": "CP-ORDER", "command": "UnlockConnector", "payload": {"connectorId": 99}},
        )
        assert response.status_code == 200
    # (The message log is JSONB on PostgreSQL, which keeps no key order: check the wire.)
    kwargs = dict(station.received)["ChangeConfiguration"]
    assert list(kwargs) == ["value", "key"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"station_id": "CP-X", "command": "MakeCoffee", "payload": {}}, 400, "unknown_command"),
        ({"station_id": "CP-X", "command": "BootNotification", "payload": {}}, 400, "unknown_command"),
        ({"station_id": "CP-X", "command": "Reset", "payload": {"type": "Sideways"}}, 400, "invalid_payload"),
        ({"station_id": "CP-X", "command": "Reset", "payload": {}}, 400, "invalid_payload"),
        ({"station_id": "CP-X", "command": "Reset", "payload": "Hard"}, 400, None),
        ({"command": "Reset", "payload": {"type": "Hard"}}, 400, "validation_error"),
        ({"station_id": "NOPE", "command": "Reset", "payload": {"type": "Hard"}}, 404, "not_found"),
        ({"station_id": "CP-OFFLINE", "command": "Reset", "payload": {"type": "Hard"}}, 409, "not_connected"),
    ],
)
async def test_bad_requests_get_clear_errors(server, live_token, body, status, error):
    key = await sync_to_async(live_token)()
    await sync_to_async(StationFactory)(station_id="CP-OFFLINE")
    response = await post(server, key, body)
    assert response.status_code == status, response.text
    if error:
        assert response.json()["error"] == error
    assert response.json()["detail"]


async def test_invalid_payload_error_names_the_schema_complaint(server, live_token):
    key = await sync_to_async(live_token)()
    response = await post(
        server, key, {"station_id": "CP-X", "command": "Reset", "payload": {"type": "Sideways"}}
    )
    assert "type" in response.json()["detail"] or "Sideways" in response.json()["detail"]


async def test_callerror_is_502_with_code_and_text(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-ERR") as station:
        station.behaviour["Reset"] = "error"
        response = await post(
            server, key, {"station_id": "CP-ERR", "command": "Reset", "payload": {"type": "Soft"}}
        )
    assert response.status_code == 502
    body = response.json()
    assert body["error_code"] == "GenericError"
    assert "refused by test station" in body["error_description"]


async def test_no_answer_is_504_after_call_timeout(start_server, live_token):
    server = start_server(OCPP_CALL_TIMEOUT="2")
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-SILENT") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["Reset"] = "silent"
        # The client gives up after 15 s: only the configured 2 s timeout, not
        # the 30 s default, can produce this answer in time.
        response = await post(
            server,
            key,
            {"station_id": "CP-SILENT", "command": "Reset", "payload": {"type": "Soft"}},
            timeout=15,
        )
        assert await station.wait_for("Reset") == {"type": "Soft"}  # it was really sent
    assert response.status_code == 504
    assert response.json()["error"] == "timeout"


async def test_late_reply_is_not_mixed_up_with_next_call(start_server, live_token):
    server = start_server(OCPP_CALL_TIMEOUT="2")
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-LATE") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["GetLocalListVersion.delay"] = 3
        station.answers["GetLocalListVersion"] = {"listVersion": 41}
        late = await post(
            server, key, {"station_id": "CP-LATE", "command": "GetLocalListVersion", "payload": {}}
        )
        assert late.status_code == 504
        station.behaviour["GetLocalListVersion.delay"] = 0
        station.answers["GetLocalListVersion"] = {"listVersion": 42}
        await asyncio.sleep(1.5)  # the late reply (41) arrives now
        response = await post(
            server, key, {"station_id": "CP-LATE", "command": "GetLocalListVersion", "payload": {}}
        )
    assert response.status_code == 200
    assert response.json()["response"] == {"listVersion": 42}


async def test_socket_closing_mid_call_fails_at_once_as_disconnected(server, live_token):
    """The CALL went out and the station went away (a hard Reset does that):
    504 `disconnected`, not 409, so a client knows the station may have acted."""
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-DROP") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["Reset"] = "disconnect"
        # The call timeout is 30 s; a client that gives up after 10 s only gets
        # an answer if the closed socket failed the call at once.
        response = await post(
            server,
            key,
            {"station_id": "CP-DROP", "command": "Reset", "payload": {"type": "Soft"}},
            timeout=10,
        )
    assert response.status_code == 504
    assert response.json()["error"] == "disconnected"


async def test_reply_then_disconnect_is_still_200(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-HARD") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["Reset"] = "answer-then-disconnect"
        response = await post(
            server, key, {"station_id": "CP-HARD", "command": "Reset", "payload": {"type": "Hard"}}
        )
    assert response.status_code == 200
    assert response.json()["response"] == {"status": "Accepted"}


async def test_concurrent_commands_queue_one_in_flight(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-BUSY") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["DataTransfer.delay"] = 0.3
        bodies = [
            {
                "station_id": "CP-BUSY",
                "command": "DataTransfer",
                "payload": {"vendorId": "v", "messageId": str(i)},
            }
            for i in range(5)
        ]
        responses = await asyncio.gather(*(post(server, key, b) for b in bodies))
    assert [r.status_code for r in responses] == [200] * 5
    assert station.max_in_flight == 1
    assert len([1 for name, _ in station.received if name == "DataTransfer"]) == 5


@pytest.mark.parametrize(("role", "status"), [(Role.CLIENT, 403), (None, 401)])
async def test_only_operators_send_commands(server, live_token, role, status):
    key = await sync_to_async(live_token)(role) if role else None
    response = await post(server, key, {"station_id": "X", "command": "Reset", "payload": {"type": "Soft"}})
    assert response.status_code == status


# Answered on the event loop: a command waiting for its station holds no thread ---------


async def test_sync_requests_are_answered_while_a_command_waits(server, live_token):
    """The wait for the station's reply is on the event loop: Django's one sync
    thread (every sync view) stays free meanwhile."""
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-WAIT") as station:
        await station.wait_for("GetConfiguration")
        station.behaviour["DataTransfer.delay"] = 3
        body = {"station_id": "CP-WAIT", "command": "DataTransfer", "payload": {"vendorId": "v"}}
        command = asyncio.create_task(post(server, key, body))
        await station.wait_for("DataTransfer")  # the CALL is out; the reply takes 3 s

        loop = asyncio.get_running_loop()
        started = loop.time()
        stations = await http(server, "GET", "/ocpp/stations", key)  # a sync DRF view
        me = await http(server, "GET", "/auth/me", key)
        answered_in = loop.time() - started
        assert not command.done()
        response = await command
    assert stations.status_code == 200 and me.status_code == 200
    assert answered_in < 2
    assert response.status_code == 200


async def test_commands_to_different_stations_wait_side_by_side(server, live_token):
    key = await sync_to_async(live_token)()
    names = ["CP-PAR-1", "CP-PAR-2", "CP-PAR-3"]
    async with (
        station_session(server, names[0]) as one,
        station_session(server, names[1]) as two,
        station_session(server, names[2]) as three,
    ):
        for station in (one, two, three):
            await station.wait_for("GetConfiguration")
            station.behaviour["DataTransfer.delay"] = 1.5
        loop = asyncio.get_running_loop()
        started = loop.time()
        responses = await asyncio.gather(
            *(
                post(server, key, {"station_id": n, "command": "DataTransfer", "payload": {"vendorId": "v"}})
                for n in names
            )
        )
        took = loop.time() - started
    assert [r.status_code for r in responses] == [200] * 3
    assert took < 3  # one after another would be 4.5 s


async def test_answers_carry_the_same_headers_as_every_api_answer(server, live_token):
    """The middleware that runs on the event loop under ASGI still sets what Django's does."""
    key = await sync_to_async(live_token)()
    await sync_to_async(StationFactory)(station_id="CP-HEADERS")
    command = await post(
        server, key, {"station_id": "CP-HEADERS", "command": "Reset", "payload": {"type": "Soft"}}
    )
    other = await http(server, "GET", "/ocpp/stations/CP-HEADERS", key)
    assert command.status_code == 409 and other.status_code == 200
    for name in (
        "Content-Type",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Content-Language",
    ):
        assert command.headers.get(name) == other.headers.get(name), name
    assert command.headers["Content-Type"] == "application/json"
    assert set(command.headers["Vary"].split(", ")) == set(other.headers["Vary"].split(", "))


async def test_a_bad_token_is_401_with_its_challenge(server):
    response = await post(
        server, "not-a-token", {"station_id": "X", "command": "Reset", "payload": {"type": "Soft"}}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json()["error"] == "authentication_failed"
