"""The management API against a real Daphne process with a real station connected."""

import asyncio
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from tests.live import http
from tests.station import now_iso, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STATION_ID = "CP:01#A+B.2"


async def test_booted_station_shows_online_with_boot_info_and_connectors(server, live_token):
    client_token = await sync_to_async(live_token)("client")
    operator_token = await sync_to_async(live_token)("operator")
    encoded = quote(STATION_ID, safe="")

    async with station_session(server, STATION_ID) as cp:
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=100, timestamp=now_iso())
        )

        status = await http(server, "GET", f"/ocpp/status/{encoded}", client_token)
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["station_id"] == STATION_ID
        assert body["online"] is True
        assert body["connected_since"] and body["last_seen"]
        assert (body["vendor"], body["model"]) == ("EVPowerTest", "T1")
        assert body["registration_status"] == "accepted"
        assert body["last_boot_at"]
        connectors = {c["connector_id"]: c for c in body["connectors"]}
        assert (connectors[1]["status"], connectors[1]["error_code"]) == ("Preparing", "NoError")
        (active,) = body["active_transactions"]
        assert (active["transaction_id"], active["connector_id"]) == (started.transaction_id, 1)
        assert active["id_tag"] is None  # a client does not see another's tag

        station = await http(server, "GET", f"/ocpp/stations/{encoded}", operator_token)
        assert station.status_code == 200, station.text
        body = station.json()
        assert body["online"] is True
        assert body["last_seen"]
        assert (body["vendor"], body["model"]) == ("EVPowerTest", "T1")
        assert [(c["connector_id"], c["status"]) for c in body["connectors"]] == [(1, "Preparing")]

        listed = await http(server, "GET", "/ocpp/stations", operator_token)
        assert [(s["station_id"], s["online"]) for s in listed.json()["results"]] == [(STATION_ID, True)]

    # Gone: presence drops it once the server has seen the socket close.
    deadline = asyncio.get_running_loop().time() + 10
    while (await http(server, "GET", f"/ocpp/status/{encoded}", client_token)).json()["online"]:
        assert asyncio.get_running_loop().time() < deadline, "still online after disconnecting"
        await asyncio.sleep(0.1)
