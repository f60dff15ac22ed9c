"""The simulator against a real Daphne process: boot, status, remote start/stop, billing."""

from decimal import Decimal

import pytest

from tests.simulator.conftest import Api, driver_token, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_boots_and_shows_its_connectors(server, simulate, operator_api):
    api = await operator_api(server)
    await simulate(server, "SIM-BOOT", connectors=3, vendor="Acme", model="Volt 22")

    async def all_reported():
        status = await api.status("SIM-BOOT")
        return status if len(status["connectors"]) == 4 else None

    status = await eventually(all_reported)
    assert status["online"] is True
    assert (status["vendor"], status["model"], status["firmware_version"]) == ("Acme", "Volt 22", "1.0.0")
    assert [(c["connector_id"], c["status"]) for c in status["connectors"]] == [
        (0, "Available"),
        (1, "Available"),
        (2, "Available"),
        (3, "Available"),
    ]


async def test_remote_start_charges_with_rising_energy_and_remote_stop_bills(server, simulate, operator_api):
    token = await driver_token("SIM-CHARGE", "SIM-DRIVER", price_per_kwh="0.40")
    api = Api(server, token)
    station = await simulate(server, "SIM-CHARGE", power_kw=360)  # 100 Wh per second

    started = await api.post(
        "/ocpp/start_charge", {"station_id": "SIM-CHARGE", "connector_id": 2, "id_tag": "SIM-DRIVER"}
    )
    assert started["station_response"] == {"status": "Accepted"}
    session_id = started["session"]["id"]

    async def session(check):
        data = await api.get(f"/ocpp/sessions/{session_id}")
        return data if check(data) else None

    def charging(s):
        return s["status"] == "charging" and Decimal(s["energy_kwh"]) > 0

    first = await eventually(lambda: session(charging))
    rising = Decimal(first["energy_kwh"])
    later = await eventually(lambda: session(lambda s: Decimal(s["energy_kwh"]) > rising))
    assert station.connectors[2].status == "Charging"
    assert (await api.status("SIM-CHARGE"))["connectors"][2]["status"] == "Charging"

    operator = await operator_api(server)
    transaction = await operator.get(f"/ocpp/transactions/{later['transaction_id']}")
    measured = {(v["measurand"], v["phase"]) for v in transaction["meter_values"]}
    assert {("Current.Import", p) for p in ("L1", "L2", "L3")} <= measured
    assert {("Power.Active.Import", p) for p in ("L1", "L2", "L3")} <= measured

    stopped = await api.post(f"/ocpp/sessions/{session_id}/stop")
    # The station may stop (StopTransaction) before this answer is written.
    assert stopped["session"]["status"] in ("stopping", "completed")
    final = await eventually(lambda: session(lambda s: s["status"] == "completed"))
    assert final["stop_reason"] == "Remote"
    assert Decimal(final["energy_kwh"]) >= Decimal(later["energy_kwh"])
    energy = Decimal(final["energy_kwh"])
    assert energy > 0 and Decimal(final["cost"]) == (energy * Decimal("0.40")).quantize(Decimal("0.01"))
    await eventually(lambda: station.connectors[2].status == "Available")


async def test_the_servers_energy_limit_stops_the_transaction(server, simulate):
    api = Api(server, await driver_token("SIM-LIMIT", "SIM-LIMITED"))
    await simulate(server, "SIM-LIMIT", power_kw=360)
    body = {"station_id": "SIM-LIMIT", "connector_id": 1, "id_tag": "SIM-LIMITED", "limit_kwh": "0.2"}
    session_id = (await api.post("/ocpp/start_charge", body))["session"]["id"]

    async def completed():
        data = await api.get(f"/ocpp/sessions/{session_id}")
        return data if data["status"] == "completed" else None

    final = await eventually(completed)
    assert final["stop_reason"] == "Remote"
    assert Decimal(final["energy_kwh"]) >= Decimal("0.2")


async def test_meter_value_sample_interval_takes_effect(server, simulate, operator_api):
    api = await operator_api(server)
    await driver_token("SIM-SAMPLE", "SIM-SAMPLER")
    station = await simulate(server, "SIM-SAMPLE", meter_interval=0)  # no sampled values
    assert await api.command("SIM-SAMPLE", "RemoteStartTransaction", {"idTag": "SIM-SAMPLER"}) == {
        "status": "Accepted"
    }
    await eventually(lambda: station.connectors[1].status == "Charging")
    assert await api.messages("SIM-SAMPLE", "MeterValues") == []

    answer = await api.command(
        "SIM-SAMPLE", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"}
    )
    assert answer == {"status": "Accepted"}
    samples = await eventually(lambda: _at_least(api.messages("SIM-SAMPLE", "MeterValues"), 2))
    registers = [
        int(v["value"])
        for m in reversed(samples)
        for v in m["payload"]["meterValue"][0]["sampledValue"]
        if v["measurand"] == "Energy.Active.Import.Register"
    ]
    assert registers == sorted(registers) and registers[-1] > registers[0]


async def _at_least(messages, n: int):
    found = await messages
    return found if len(found) >= n else None


async def test_hard_reset_while_charging_reports_the_stop_after_booting_again(server, simulate, operator_api):
    api = await operator_api(server)
    await driver_token("SIM-HARD", "SIM-HARDTAG")
    station = await simulate(server, "SIM-HARD")
    await api.command("SIM-HARD", "RemoteStartTransaction", {"idTag": "SIM-HARDTAG", "connectorId": 1})
    await eventually(lambda: station.connectors[1].transaction_id is not None)
    transaction_id = station.connectors[1].transaction_id

    assert await api.command("SIM-HARD", "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    await eventually(lambda: station.boots == 2 and station.booted)

    async def closed():
        data = await api.get(f"/ocpp/transactions/{transaction_id}")
        return data if data["stopped_at"] else None

    assert (await eventually(closed))["stop_reason"] == "HardReset"
    assert len(await api.messages("SIM-HARD", "BootNotification")) == 2
