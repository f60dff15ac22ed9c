"""Frames with known vendor quirks, one recording per quirk
(`tests/fixtures/frames/quirks/`), end to end through a real server: a lenient
station's frame is answered with a CALLRESULT, stored normalised and its
violation listed; a strict station's gets the schema's CALLERROR."""

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import websockets
from asgiref.sync import sync_to_async

from billing.models import MeterValue, Transaction
from ocpp16 import tolerance
from stations.models import Connector, Station
from tests.live import http

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "frames" / "quirks").glob("*.json"))


class RawStation:
    """Frames exactly as written, over a real socket; calls from the server answered with {}."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, frame: list) -> list:
        await self.ws.send(json.dumps(frame))
        while True:
            reply = json.loads(await self.ws.recv())
            if reply[0] == 2:  # GetConfiguration after boot and the like
                await self.ws.send(json.dumps([3, reply[1], {}]))
                continue
            if reply[1] == frame[1]:
                return reply


def _with_tx(frame: list, tx_id: int | None) -> list:
    payload = {k: (tx_id if v == "$tx" else v) for k, v in frame[3].items()}
    return [*frame[:3], payload]


async def _replay(server, station_id: str, recording: dict) -> tuple[list, list, int | None]:
    """Send the setup frames (each must be taken), then the quirk; (quirk sent, reply, transaction id)."""
    async with websockets.connect(server.ws_url(station_id), subprotocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        tx_id = None
        for frame in recording["setup"]:
            reply = await station.send(frame)
            assert reply[0] == 3, (frame, reply)
            if frame[2] == "StartTransaction":
                tx_id = reply[2]["transactionId"]
        quirk = _with_tx(recording["quirk"], tx_id)
        return quirk, await station.send(quirk), tx_id


async def _check_stored(station_id: str, stored: dict, reply: list, tx_id: int | None, sent_at: datetime):
    station = await Station.objects.aget(station_id=station_id)
    for field, value in stored.get("station", {}).items():
        assert getattr(station, field) == value, field
    if "connector" in stored:
        expected = stored["connector"]
        connector = await Connector.objects.aget(station=station, connector_id=expected["connector_id"])
        assert {k: getattr(connector, k) for k in expected} == expected
    if "meter_value" in stored:
        assert await MeterValue.objects.filter(station=station, **stored["meter_value"]).aexists()
    if "answer" in stored:
        assert {k: reply[2][k] for k in stored["answer"]} == stored["answer"]
    if "transaction" in stored:
        tx = await Transaction.objects.aget(pk=tx_id if tx_id is not None else reply[2]["transactionId"])
        for field, value in stored["transaction"].items():
            if field == "started_at" and value == "received":
                # Not a clock assertion: the time the server received the frame.
                assert sent_at <= tx.started_at <= datetime.now(UTC)
            elif field == "started_at":
                assert tx.started_at == datetime.fromisoformat(value)
            else:
                assert getattr(tx, field) == value, field


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
async def test_vendor_quirk_is_taken_and_listed_when_lenient_and_refused_when_strict(
    server, live_token, fixture
):
    recording = json.loads(fixture.read_text())
    operator = await sync_to_async(live_token)("operator")
    admin = await sync_to_async(live_token)("admin")
    lenient_id, strict_id = f"QL-{fixture.stem}"[:48], f"QS-{fixture.stem}"[:48]

    # Lenient: the network default.
    sent_at = datetime.now(UTC)
    quirk, reply, tx_id = await _replay(server, lenient_id, recording)
    assert reply[0] == 3, reply
    await _check_stored(lenient_id, recording.get("stored", {}), reply, tx_id, sent_at)
    listed = await http(server, "GET", f"/ocpp/stations/{quote(lenient_id, safe='')}/violations", operator)
    assert listed.status_code == 200, listed.text
    violations = listed.json()["results"]
    assert sorted((v["action"], v["kind"], v["field"]) for v in violations) == sorted(
        (v["action"], v["kind"], v["field"]) for v in recording["violations"]
    )
    for violation in violations:
        assert violation["count"] == 1
        assert violation["example"] == quirk
        assert violation["first_seen"] and violation["last_seen"] and violation["detail"]

    # Strict: the station's own policy, set before it connects.
    created = await http(
        server, "POST", "/ocpp/stations", admin, {"station_id": strict_id, "tolerance": "strict"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["tolerance"] == "strict"
    _, reply, _ = await _replay(server, strict_id, recording)
    assert reply[0] == 4, reply
    assert reply[2] == recording["strict_error"]
    listed = await http(server, "GET", f"/ocpp/stations/{quote(strict_id, safe='')}/violations", operator)
    assert listed.json()["results"] == []


async def test_a_repeated_quirk_is_one_violation_counted(server, live_token):
    operator = await sync_to_async(live_token)("operator")
    async with websockets.connect(server.ws_url("QL-REPEAT"), subprotocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        for n in range(3):
            reply = await station.send([2, f"a{n}", "Authorize", {"idTag": f"TAG{n}", "connectorId": 1}])
            assert reply[0] == 3
    listed = (await http(server, "GET", "/ocpp/stations/QL-REPEAT/violations", operator)).json()
    assert listed["count"] == 1
    (violation,) = listed["results"]
    assert violation["count"] == 3
    assert violation["example"] == [2, "a2", "Authorize", {"idTag": "TAG2", "connectorId": 1}]
    assert violation["first_seen"] <= violation["last_seen"]


async def test_violations_are_for_operators(server, live_token):
    client = await sync_to_async(live_token)("client")
    operator = await sync_to_async(live_token)("operator")
    await sync_to_async(Station.objects.create)(station_id="QL-ROLES")
    assert (await http(server, "GET", "/ocpp/stations/QL-ROLES/violations", client)).status_code == 403
    assert (await http(server, "GET", "/ocpp/stations/QL-ROLES/violations")).status_code == 401
    assert (await http(server, "GET", "/ocpp/stations/NOPE/violations", operator)).status_code == 404


async def test_network_default_strict_refuses_unless_the_station_is_lenient(start_server, live_token):
    server = start_server(OCPP_TOLERANCE="strict")
    admin = await sync_to_async(live_token)("admin")
    created = await http(
        server, "POST", "/ocpp/stations", admin, {"station_id": "QL-OWN", "tolerance": "lenient"}
    )
    assert created.status_code == 201, created.text
    quirk = [2, "a1", "Authorize", {"idTag": "TAG1", "connectorId": 1}]
    for station_id, answer in (("QS-DEFAULT", 4), ("QL-OWN", 3)):
        async with websockets.connect(server.ws_url(station_id), subprotocols=["ocpp1.6"]) as ws:
            assert (await RawStation(ws).send(quirk))[0] == answer, station_id


async def test_a_conforming_frame_costs_no_tolerance_check(raw_station, monkeypatch):
    calls = []
    monkeypatch.setattr(tolerance, "tolerate", lambda *args: calls.append(args))
    station = await raw_station("CP-CONFORMS")
    frame = await station.call("Authorize", {"idTag": "TAG1"})
    assert frame[0] == 3
    assert calls == []


async def test_a_failing_tolerance_check_refuses_as_the_schema_says(raw_station, monkeypatch):
    def broken(*args):
        raise RuntimeError("bug")

    monkeypatch.setattr(tolerance, "tolerate", broken)
    station = await raw_station("CP-BROKEN-CHECK")
    frame = await station.call("Authorize", {"idTag": "TAG1", "connectorId": 1})
    assert frame[0] == 4 and frame[2] == "FormationViolation"
