"""The simulator's answers to central-system commands, sent through `POST /ocpp/send_command`."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from tests.factories import IdTagFactory
from tests.simulator.conftest import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
async def live(server, simulate, operator_api):
    """(api, station): an operator's API and a booted simulated station "SIM-CMD"."""
    return await operator_api(server), await simulate(server, "SIM-CMD")


async def connector_status(api, connector_id: int) -> str:
    connectors = (await api.status("SIM-CMD"))["connectors"]
    return next(c["status"] for c in connectors if c["connector_id"] == connector_id)


async def test_change_and_get_configuration_on_the_key_table(live):
    api, _ = live
    answer = await api.command("SIM-CMD", "GetConfiguration", {"key": ["NumberOfConnectors", "Nope"]})
    assert answer == {
        "configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
        "unknownKey": ["Nope"],
    }
    change = {"key": "NumberOfConnectors", "value": "5"}
    assert await api.command("SIM-CMD", "ChangeConfiguration", change) == {"status": "Rejected"}
    change = {"key": "NoSuchKey", "value": "1"}
    assert await api.command("SIM-CMD", "ChangeConfiguration", change) == {"status": "NotSupported"}
    change = {"key": "HeartbeatInterval", "value": "soon"}
    assert await api.command("SIM-CMD", "ChangeConfiguration", change) == {"status": "Rejected"}


async def test_heartbeat_interval_change_takes_effect(live):
    api, _ = live
    assert await api.messages("SIM-CMD", "Heartbeat") == []  # the server's interval is 300 s
    change = {"key": "HeartbeatInterval", "value": "1"}
    assert await api.command("SIM-CMD", "ChangeConfiguration", change) == {"status": "Accepted"}
    answer = await api.command("SIM-CMD", "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert answer["configurationKey"] == [{"key": "HeartbeatInterval", "readonly": False, "value": "1"}]

    async def two_heartbeats():
        return len(await api.messages("SIM-CMD", "Heartbeat")) >= 2

    await eventually(two_heartbeats)


async def test_soft_reset_reboots_and_boots_again(live):
    api, station = live
    assert await api.command("SIM-CMD", "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    await eventually(lambda: station.boots == 2 and station.booted)

    async def booted_twice():
        return len(await api.messages("SIM-CMD", "BootNotification")) == 2

    await eventually(booted_twice)
    assert (await api.status("SIM-CMD"))["online"] is True


async def test_trigger_message_sends_what_was_asked(live):
    api, _ = live
    for requested in (
        "Heartbeat",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    ):
        payload = {"requestedMessage": requested, "connectorId": 1}
        assert await api.command("SIM-CMD", "TriggerMessage", payload) == {"status": "Accepted"}

        async def arrived(requested=requested):
            return await api.messages("SIM-CMD", requested)

        sent = await eventually(arrived)
        if requested == "MeterValues":
            assert sent[0]["payload"]["connectorId"] == 1
            assert {v["context"] for v in sent[0]["payload"]["meterValue"][0]["sampledValue"]} == {"Trigger"}
    payload = {"requestedMessage": "StatusNotification", "connectorId": 7}
    assert await api.command("SIM-CMD", "TriggerMessage", payload) == {"status": "Rejected"}


async def test_reserve_now_and_cancel_reservation(live):
    api, _ = live
    reserve = {
        "connectorId": 1,
        "expiryDate": iso(datetime.now(UTC) + timedelta(hours=1)),
        "idTag": "SIM-RESERVED",
        "reservationId": 41,
    }
    assert await api.command("SIM-CMD", "ReserveNow", reserve) == {"status": "Accepted"}
    await eventually(lambda: _is(connector_status(api, 1), "Reserved"))
    other = {**reserve, "reservationId": 42}
    assert await api.command("SIM-CMD", "ReserveNow", other) == {"status": "Occupied"}
    # Another tag may not start on the reserved connector.
    start = {"idTag": "SOMEONE-ELSE", "connectorId": 1}
    assert await api.command("SIM-CMD", "RemoteStartTransaction", start) == {"status": "Rejected"}

    assert await api.command("SIM-CMD", "CancelReservation", {"reservationId": 41}) == {"status": "Accepted"}
    await eventually(lambda: _is(connector_status(api, 1), "Available"))
    assert await api.command("SIM-CMD", "CancelReservation", {"reservationId": 41}) == {"status": "Rejected"}


async def _is(status, expected: str) -> bool:
    return await status == expected


async def test_change_availability_is_scheduled_while_charging(live):
    api, station = live
    await sync_to_async(IdTagFactory)(id_tag="SIM-ANY")
    assert await api.command("SIM-CMD", "RemoteStartTransaction", {"idTag": "SIM-ANY", "connectorId": 1}) == {
        "status": "Accepted"
    }
    await eventually(lambda: station.connectors[1].transaction_id is not None)
    inoperative = {"connectorId": 0, "type": "Inoperative"}
    assert await api.command("SIM-CMD", "ChangeAvailability", inoperative) == {"status": "Scheduled"}
    await eventually(lambda: _is(connector_status(api, 2), "Unavailable"))
    assert station.connectors[1].status == "Charging"

    assert await api.command("SIM-CMD", "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    await eventually(lambda: _is(connector_status(api, 1), "Unavailable"))
    operative = {"connectorId": 0, "type": "Operative"}
    assert await api.command("SIM-CMD", "ChangeAvailability", operative) == {"status": "Accepted"}
    await eventually(lambda: _is(connector_status(api, 1), "Available"))
    assert await api.command("SIM-CMD", "UnlockConnector", {"connectorId": 9}) == {"status": "NotSupported"}


async def test_local_list_version_follows_send_local_list(live):
    api, station = live
    assert await api.command("SIM-CMD", "GetLocalListVersion", {}) == {"listVersion": 0}
    full = {
        "listVersion": 3,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
    }
    assert await api.command("SIM-CMD", "SendLocalList", full) == {"status": "Accepted"}
    assert await api.command("SIM-CMD", "GetLocalListVersion", {}) == {"listVersion": 3}
    stale = {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": []}
    assert await api.command("SIM-CMD", "SendLocalList", stale) == {"status": "VersionMismatch"}
    assert station.local_list == {"LOCAL-1": {"status": "Accepted"}}


async def test_charging_profiles_make_the_composite_schedule(live):
    api, _ = live
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3700.0}],
            },
        },
    }
    assert await api.command("SIM-CMD", "SetChargingProfile", profile) == {"status": "Accepted"}
    query = {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"}
    schedule = await api.command("SIM-CMD", "GetCompositeSchedule", query)
    assert schedule["status"] == "Accepted"
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3700.0}]

    assert await api.command("SIM-CMD", "ClearChargingProfile", {"id": 7}) == {"status": "Accepted"}
    assert await api.command("SIM-CMD", "ClearChargingProfile", {"id": 7}) == {"status": "Unknown"}
    schedule = await api.command("SIM-CMD", "GetCompositeSchedule", query)
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 11000.0}]
    tx_profile = {
        **profile,
        "csChargingProfiles": {**profile["csChargingProfiles"], "chargingProfilePurpose": "TxProfile"},
    }
    assert await api.command("SIM-CMD", "SetChargingProfile", tx_profile) == {
        "status": "Rejected"
    }  # no transaction


async def test_diagnostics_and_firmware_report_their_progress(live):
    api, station = live
    answer = await api.command("SIM-CMD", "GetDiagnostics", {"location": "ftp://logs.example.com/"})
    assert answer["fileName"].startswith("SIM-CMD-")
    await eventually(lambda: _is(_field(api, "diagnostics_status"), "Uploaded"))

    update = {"location": "https://fw.example.com/sim-2.0.0.bin", "retrieveDate": iso(datetime.now(UTC))}
    assert await api.command("SIM-CMD", "UpdateFirmware", update) == {}
    await eventually(lambda: _is(_field(api, "firmware_status"), "Installed"))
    assert await _field(api, "firmware_version") == "sim-2.0.0"
    statuses = [
        m["payload"]["status"] for m in reversed(await api.messages("SIM-CMD", "FirmwareStatusNotification"))
    ]
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert station.boots == 2  # installing rebooted it


async def _field(api, name: str):
    return (await api.status("SIM-CMD"))[name]


async def test_data_transfer_and_clear_cache(live):
    api, _ = live
    ours = {"vendorId": "EVPower", "messageId": "Echo", "data": "ping"}
    assert await api.command("SIM-CMD", "DataTransfer", ours) == {"status": "Accepted", "data": "ping"}
    theirs = {"vendorId": "Other"}
    assert await api.command("SIM-CMD", "DataTransfer", theirs) == {"status": "UnknownVendorId"}
    assert await api.command("SIM-CMD", "ClearCache", {}) == {"status": "Accepted"}
