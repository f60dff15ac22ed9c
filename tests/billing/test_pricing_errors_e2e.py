"""A tariff that cannot be priced (legacy data, stored before tariffs were
validated) never stops a station from charging: end to end through a real
Daphne process, a real OCPP test station and real HTTP."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call
from rest_framework.authtoken.models import Token

from billing.models import Tariff
from evpower.models import Role
from tests.factories import IdTagFactory, StationFactory, UserFactory
from tests.live import http
from tests.station import eventually, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@sync_to_async
def bad_tariff_network(station_id: str) -> tuple[int, str]:
    """A station, a driver's tag and a network tariff as bad data typed in an
    unvalidated admin left it; returns the tariff id and an admin's token."""
    StationFactory(station_id=station_id, time_zone="UTC")
    IdTagFactory(id_tag="RFID-1", owner=UserFactory())
    # Straight into the table, past any validation, as legacy rows are.
    tariff = Tariff.objects.create(name="Typo", currency="XYZ", price_per_kwh="0.30", periods=[{"foo": 1}])
    return tariff.pk, Token.objects.create(user=UserFactory(role=Role.ADMIN)).key


async def test_a_bad_stored_tariff_is_listed_as_stored_with_its_errors(server):
    tariff_id, token = await bad_tariff_network("E2E-BAD-LIST")

    listed = await http(server, "GET", "/ocpp/tariffs", token)
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["results"]
    assert (row["id"], row["currency"], row["periods"]) == (tariff_id, "XYZ", [{"foo": 1}])
    assert {"currency", "periods"} <= set(row["validation_errors"])
    detail = await http(server, "GET", f"/ocpp/tariffs/{tariff_id}", token)
    assert detail.status_code == 200 and detail.json() == row


async def test_a_bad_tariff_flags_the_session_and_charging_goes_on_until_it_is_fixed(server):
    tariff_id, token = await bad_tariff_network("E2E-BAD")

    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    async with station_session(server, "E2E-BAD") as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="RFID-1", meter_start=1000, timestamp=iso(t0))
        )
        assert started.id_tag_info["status"] == "Accepted"
        tx_id = started.transaction_id
        assert isinstance(tx_id, int) and tx_id > 0

        async def flagged_session() -> dict:
            response = await http(server, "GET", "/ocpp/sessions", token)
            [session] = response.json()["results"]
            assert session["transaction_id"] == tx_id
            return session

        session = await eventually(flagged_session)
        assert session["status"] == "charging"
        assert "XYZ" in session["pricing_error"]
        assert (session["cost"], session["tariff"]) == ("0.00", None)

        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[
                    {
                        "timestamp": iso(t0 + timedelta(minutes=10)),
                        "sampledValue": [{"value": "4000", "measurand": "Energy.Active.Import.Register"}],
                    }
                ],
            )
        )

        async def live_energy() -> dict:
            data = (await http(server, "GET", f"/ocpp/sessions/{session['id']}", token)).json()
            assert data["energy_kwh"] == "3.000"
            return data

        await eventually(live_energy)
        stopped = await cp.call(
            call.StopTransaction(
                meter_stop=9000, timestamp=iso(t0 + timedelta(minutes=20)), transaction_id=tx_id
            )
        )
        assert stopped.id_tag_info is None or stopped.id_tag_info["status"] == "Accepted"

    async def completed() -> dict:
        data = (await http(server, "GET", f"/ocpp/sessions/{session['id']}", token)).json()
        assert data["status"] == "completed"
        return data

    final = await eventually(completed)
    assert (final["energy_kwh"], final["cost"]) == ("8.000", "0.00")
    assert "XYZ" in final["pricing_error"]

    # The admin fixes the tariff: the flagged session is priced by it.
    fixed = await http(
        server, "PATCH", f"/ocpp/tariffs/{tariff_id}", token, {"currency": "EUR", "periods": []}
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["validation_errors"] is None
    priced = (await http(server, "GET", f"/ocpp/sessions/{session['id']}", token)).json()
    # 8 kWh * 0.30 = 2.40
    assert (priced["cost"], priced["currency"], priced["pricing_error"]) == ("2.40", "EUR", "")
    assert (priced["status"], priced["energy_kwh"], priced["tariff"]["currency"]) == (
        "completed",
        "8.000",
        "EUR",
    )
