"""A real server with LOG_FORMAT=json: every line it prints is one JSON
object, OCPP lines name their station, refusals their reason, and a 4xx
answer is logged once."""

import json

import pytest
import websockets
from ocpp.v16 import call

from tests.live import http
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _lines(server) -> list[dict]:
    return [json.loads(line) for line in server.output().splitlines() if line.strip()]


async def test_server_logs_one_json_object_per_line_with_station_and_reason(start_server):
    server = start_server(fresh=True, LOG_FORMAT="json")
    async with station_session(server, "CP-JSON-LOG") as cp:
        await cp.call(call.Heartbeat())
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(server.ws_url("CP-NO-SUBPROTOCOL"))
    assert (await http(server, "GET", "/ocpp/no-such-thing")).status_code == 404
    assert (await http(server, "GET", "/ocpp/sessions")).status_code == 401

    lines = _lines(server)  # fails on any line that is not JSON

    assert all({"event", "level", "logger", "timestamp"} <= set(line) for line in lines)
    assert [line for line in lines if line["level"] in ("warning", "error") and "reason" not in line] == []
    connection_loggers = ("ocpp_gateway.consumers", "ocpp_gateway.chargepoint")
    station_lines = [line for line in lines if line["logger"] in connection_loggers]
    assert any("CP-JSON-LOG" in line["event"] and "booted" in line["event"] for line in station_lines)
    assert all("station_id" in line for line in station_lines), station_lines
    [refused] = [line for line in lines if line.get("station_id") == "CP-NO-SUBPROTOCOL" and "reason" in line]
    assert refused["reason"] == "subprotocol_not_offered"
    assert refused["level"] == "warning"
    for path, status in (("/ocpp/no-such-thing", 404), ("/ocpp/sessions", 401)):
        [logged] = [line for line in lines if path in json.dumps(line)]
        assert (logged["logger"], logged["status_code"], logged["method"]) == (
            "evpower.access",
            status,
            "GET",
        )


async def test_development_server_logs_plain_lines(start_server):
    server = start_server(fresh=True, LOG_FORMAT="plain")
    assert (await http(server, "GET", "/ocpp/no-such-thing")).status_code == 404

    [line] = [line for line in server.output().splitlines() if "/ocpp/no-such-thing" in line]

    assert not line.startswith("{")
    assert " INFO evpower.access GET /ocpp/no-such-thing 404 " in line
