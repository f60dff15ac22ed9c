"""Charging sessions end to end: real HTTP to a real Daphne process, a real OCPP
test station on the other side, billing checked against hand-computed costs."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import requests
from asgiref.sync import sync_to_async
from ocpp.v16 import call
from rest_framework.authtoken.models import Token

from billing.models import Session, Tariff
from tests.factories import IdTagFactory, StationFactory, UserFactory
from tests.live import http
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class Api:
    """One client's HTTP calls to `server` (see `tests.live.http`)."""

    def __init__(self, server, token: str):
        self.server = server
        self.token = token

    async def post(self, path: str, body: dict | None = None) -> requests.Response:
        return await http(self.server, "POST", path, self.token, body)

    async def get(self, path: str, **params) -> requests.Response:
        return await http(self.server, "GET", path, self.token, params=params)

    async def session_when(self, session_id: int, check, timeout: float = 5) -> dict:
        """The session once `check(session)` holds: the server commits asynchronously."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            data = (await self.get(f"/ocpp/sessions/{session_id}")).json()
            if check(data) or asyncio.get_running_loop().time() > deadline:
                return data
            await asyncio.sleep(0.1)


@sync_to_async
def driver(station_id: str, tag: str = "DRIVER-1", **tariff) -> str:
    """A client owning `tag`, a station, maybe a tariff; returns the client's token."""
    user = UserFactory()
    IdTagFactory(id_tag=tag, owner=user)
    StationFactory(station_id=station_id, time_zone="UTC")
    if tariff:
        Tariff.objects.create(name="E2E", currency="EUR", **tariff)
    return Token.objects.create(user=user).key


def energy(at: datetime, wh: int) -> list[dict]:
    return [
        {
            "timestamp": iso(at),
            "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}],
        }
    ]


async def test_remote_start_charge_and_stop_bill_the_session(server):
    api = Api(
        server, await driver("E2E-A", price_per_kwh="0.30", price_per_minute="0.10", session_fee="0.50")
    )
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with station_session(server, "E2E-A") as cp:
        response = await api.post(
            "/ocpp/start_charge", {"station_id": "E2E-A", "connector_id": 1, "id_tag": "DRIVER-1"}
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["station_response"] == {"status": "Accepted"}
        assert data["session"]["status"] == "starting"
        session_id = data["session"]["id"]
        assert await cp.wait_for("RemoteStartTransaction") == {"connector_id": 1, "id_tag": "DRIVER-1"}

        # What a real station does next.
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=1000, timestamp=iso(t0))
        )
        assert started.id_tag_info["status"] == "Accepted"
        tx_id = started.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1, transaction_id=tx_id, meter_value=energy(t0 + timedelta(minutes=10), 4000)
            )
        )
        live = await api.session_when(session_id, lambda s: s["energy_kwh"] == "3.000")
        # 3 kWh * 0.30 = 0.90; 10 min * 0.10 = 1.00; fee 0.50 -> 2.40
        assert (live["status"], live["transaction_id"], live["cost"]) == ("charging", tx_id, "2.40")

        stopped = await api.post(f"/ocpp/sessions/{session_id}/stop")
        assert stopped.status_code == 200 and stopped.json()["session"]["status"] == "stopping"
        assert await cp.wait_for("RemoteStopTransaction") == {"transaction_id": tx_id}
        await cp.call(
            call.StopTransaction(
                meter_stop=11000,
                timestamp=iso(t0 + timedelta(minutes=30)),
                transaction_id=tx_id,
                reason="Remote",
            )
        )
        final = await api.session_when(session_id, lambda s: s["status"] == "completed")
    # 10 kWh * 0.30 = 3.00; 30 min * 0.10 = 3.00; fee 0.50 -> 6.50
    assert (final["status"], final["energy_kwh"], final["cost"], final["currency"]) == (
        "completed",
        "10.000",
        "6.50",
        "EUR",
    )
    assert (final["duration_seconds"], final["stop_reason"]) == (1800, "Remote")
    assert final["started_at"] == iso(t0)


async def test_energy_limit_makes_the_central_system_stop_once(server):
    api = Api(server, await driver("E2E-B"))
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    async with station_session(server, "E2E-B") as cp:
        body = {"station_id": "E2E-B", "connector_id": 1, "id_tag": "DRIVER-1", "limit_kwh": "2"}
        session_id = (await api.post("/ocpp/start_charge", body)).json()["session"]["id"]
        await cp.wait_for("RemoteStartTransaction")
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=0, timestamp=iso(t0))
        )
        tx_id = started.transaction_id

        async def sample(minute: int, wh: int):
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx_id,
                    meter_value=energy(t0 + timedelta(minutes=minute), wh),
                )
            )

        await sample(1, 1500)
        await sample(2, 2100)  # over the limit
        assert await cp.wait_for("RemoteStopTransaction", timeout=5) == {"transaction_id": tx_id}
        await sample(3, 2200)  # the car keeps drawing until the station acts
        await sample(4, 2300)
        await asyncio.sleep(1)  # a second stop would have been sent by now
        stops = [kwargs for action, kwargs in cp.received if action == "RemoteStopTransaction"]
        assert stops == [{"transaction_id": tx_id}]
        # Live sessions are priced at most every OCPP_LIVE_SESSION_SECONDS.
        session = await api.session_when(session_id, lambda s: s["energy_kwh"] == "2.300")
        assert (session["status"], session["energy_kwh"]) == ("stopping", "2.300")
        await cp.call(
            call.StopTransaction(
                meter_stop=2300, timestamp=iso(t0 + timedelta(minutes=4)), transaction_id=tx_id
            )
        )
        final = await api.session_when(session_id, lambda s: s["status"] == "completed")
    assert (final["energy_kwh"], final["cost"], final["tariff"]) == ("2.300", "0.00", None)


async def test_local_rfid_start_is_billed_to_the_tag_owner(server):
    api = Api(server, await driver("E2E-C", tag="RFID-CARD", price_per_kwh="0.25"))
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    async with station_session(server, "E2E-C") as cp:
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="RFID-CARD", meter_start=500, timestamp=iso(t0))
        )
        await cp.call(
            call.StopTransaction(
                meter_stop=8500,
                timestamp=iso(t0 + timedelta(minutes=20)),
                transaction_id=started.transaction_id,
            )
        )
    sessions = (await api.get("/ocpp/sessions")).json()
    assert sessions["count"] == 1
    session = await api.session_when(sessions["results"][0]["id"], lambda s: s["status"] == "completed")
    owner_id = await sync_to_async(lambda: Token.objects.get(key=api.token).user_id)()
    # 8 kWh * 0.25 = 2.00
    assert (session["user"], session["transaction_id"]) == (owner_id, started.transaction_id)
    assert (session["energy_kwh"], session["cost"], session["tariff"]["price_per_kwh"]) == (
        "8.000",
        "2.00",
        "0.2500",
    )
    assert session["stop_reason"] == "Local"


async def test_station_rejecting_remote_start_fails_the_session(server):
    api = Api(server, await driver("E2E-D"))
    async with station_session(server, "E2E-D") as cp:
        cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        response = await api.post(
            "/ocpp/start_charge", {"station_id": "E2E-D", "connector_id": 1, "id_tag": "DRIVER-1"}
        )
    assert response.status_code == 200
    data = response.json()
    assert data["station_response"] == {"status": "Rejected"}
    assert (data["session"]["status"], data["session"]["stop_reason"]) == ("failed", "Rejected")
    assert (await Session.objects.aget(pk=data["session"]["id"])).status == "failed"


async def test_station_starting_before_it_answers_remote_start_stays_charging(server):
    api = Api(server, await driver("E2E-E"))
    async with station_session(server, "E2E-E") as cp:
        cp.behaviour["RemoteStartTransaction.delay"] = 1  # the reply comes after StartTransaction
        request = asyncio.create_task(
            api.post("/ocpp/start_charge", {"station_id": "E2E-E", "connector_id": 1, "id_tag": "DRIVER-1"})
        )
        await cp.wait_for("RemoteStartTransaction")
        # The test station's reader waits on the delayed handler, so our
        # StartTransaction reaches the server before the RemoteStart reply;
        # its own reply is read afterwards.
        started = asyncio.create_task(
            cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="DRIVER-1", meter_start=0, timestamp=iso(datetime.now(UTC))
                )
            )
        )
        response = await request
        tx_id = (await started).transaction_id
    data = response.json()
    assert data["session"]["status"] == "charging"
    assert data["session"]["transaction_id"] == tx_id


async def test_start_charge_to_an_offline_station_fails_the_session(server):
    api = Api(server, await driver("E2E-F"))
    response = await api.post(
        "/ocpp/start_charge", {"station_id": "E2E-F", "connector_id": 1, "id_tag": "DRIVER-1"}
    )
    assert response.status_code == 409
    data = response.json()
    assert data["error"] == "not_connected"
    assert (data["session"]["status"], data["session"]["stop_reason"]) == ("failed", "NotConnected")
