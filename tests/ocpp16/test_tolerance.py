"""The tolerance policy as a pure function: which faults are known vendor
quirks, what is stored for them, and what is still refused."""

from datetime import UTC, datetime

import pytest

from ocpp16 import schemas
from ocpp16.errors import OCPPCallError
from ocpp16.tolerance import Quirk, tolerate

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TS = "2026-03-01T10:00:00Z"


def _meter(*samples, timestamp=TS):
    return {
        "connectorId": 1,
        "transactionId": 5,
        "meterValue": [{"timestamp": timestamp, "sampledValue": list(samples)}],
    }


def _quirks(result):
    return {(v.quirk, v.field) for v in result.violations}


def test_long_serial_numbers_are_kept_in_full():
    serial = "EVB1A22P4KI3N1234567890ABCDEF12"  # 31 characters, the schema allows 25
    payload = {
        "chargePointVendor": "Schneider Electric",
        "chargePointModel": "EVlink",
        "chargeBoxSerialNumber": serial,
    }
    result = tolerate("BootNotification", payload, RECEIVED)
    assert result.payload == payload
    assert _quirks(result) == {(Quirk.TOO_LONG, "chargeBoxSerialNumber")}


@pytest.mark.parametrize("action", ["Authorize", "StartTransaction"])
def test_a_too_long_id_tag_that_authorises_is_refused(action):
    payload = {"idTag": "X" * 21, "connectorId": 1, "meterStart": 0, "timestamp": TS}
    if action == "Authorize":
        payload = {"idTag": "X" * 21}
    assert tolerate(action, payload, RECEIVED) is None


def test_a_too_long_id_tag_on_stop_is_kept():
    payload = {"transactionId": 1, "meterStop": 10, "timestamp": TS, "idTag": "A" * 24}
    result = tolerate("StopTransaction", payload, RECEIVED)
    assert result.payload["idTag"] == "A" * 24
    assert _quirks(result) == {(Quirk.TOO_LONG, "idTag")}


def test_text_far_too_long_is_junk_not_a_quirk():
    payload = {"chargePointVendor": "V" * 300, "chargePointModel": "M"}
    assert tolerate("BootNotification", payload, RECEIVED) is None


def test_unknown_error_code_is_other_error_with_the_vendor_code_kept():
    payload = {"connectorId": 1, "errorCode": "Error", "status": "Faulted"}
    result = tolerate("StatusNotification", payload, RECEIVED)
    assert result.payload == {
        "connectorId": 1,
        "errorCode": "OtherError",
        "status": "Faulted",
        "vendorErrorCode": "Error",
    }
    assert _quirks(result) == {(Quirk.UNKNOWN_ERROR_CODE, "errorCode")}
    both = tolerate("StatusNotification", {**payload, "vendorErrorCode": "E42"}, RECEIVED)
    assert both.payload["vendorErrorCode"] == "Error: E42"


def test_unknown_status_is_still_refused():
    assert (
        tolerate(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}, RECEIVED
        )
        is None
    )


def test_spellings_are_read_as_the_value_they_spell_or_kept():
    result = tolerate(
        "MeterValues",
        _meter(
            {
                "value": "1.5",
                "unit": "kwh",
                "measurand": "energy.active.import.register",
                "context": "Sample.periodic",
            },
            {"value": "40", "unit": "Celsius", "measurand": "Temperature.Internal"},
        ),
        RECEIVED,
    )
    first, second = result.payload["meterValue"][0]["sampledValue"]
    assert (first["unit"], first["measurand"], first["context"]) == (
        "kWh",
        "Energy.Active.Import.Register",
        "Sample.Periodic",
    )
    assert second["measurand"] == "Temperature.Internal"
    assert _quirks(result) == {
        (Quirk.UNKNOWN_SPELLING, "meterValue.sampledValue.unit"),
        (Quirk.UNKNOWN_SPELLING, "meterValue.sampledValue.measurand"),
        (Quirk.UNKNOWN_SPELLING, "meterValue.sampledValue.context"),
    }


def test_numeric_values_become_their_text_once_per_field():
    result = tolerate("MeterValues", _meter({"value": 1240.567}, {"value": 12}), RECEIVED)
    assert [s["value"] for s in result.payload["meterValue"][0]["sampledValue"]] == ["1240.567", "12"]
    assert len(result.violations) == 1 and result.violations[0].quirk == Quirk.NUMBER_VALUE


@pytest.mark.parametrize("value", [True, None, {"v": 1}, float("nan")])
def test_values_no_reading_can_be_made_of_are_refused(value):
    assert tolerate("MeterValues", _meter({"value": value}), RECEIVED) is None


def test_empty_sampled_value_is_taken_but_no_meter_value_at_all_is_not():
    result = tolerate("MeterValues", _meter(), RECEIVED)
    assert _quirks(result) == {(Quirk.EMPTY_SAMPLED_VALUE, "meterValue.sampledValue")}
    assert tolerate("MeterValues", {"connectorId": 1, "meterValue": []}, RECEIVED) is None


def test_extra_property_is_dropped_from_what_is_stored():
    result = tolerate("Authorize", {"idTag": "TAG1", "connectorId": 1}, RECEIVED)
    assert result.payload == {"idTag": "TAG1"}
    assert _quirks(result) == {(Quirk.EXTRA_PROPERTY, "connectorId")}


def test_start_without_timestamp_gets_the_receive_time():
    result = tolerate("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0}, RECEIVED)
    assert result.payload["timestamp"] == "2026-03-01T12:00:00.000Z"
    assert _quirks(result) == {(Quirk.MISSING_TIMESTAMP, "timestamp")}


def test_other_missing_fields_are_refused():
    assert tolerate("StopTransaction", {"transactionId": 1, "meterStop": 1}, RECEIVED) is None
    assert tolerate("StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": TS}, RECEIVED) is None


def test_zoneless_time_is_utc_and_junk_time_is_refused():
    result = tolerate("MeterValues", _meter({"value": "1"}, timestamp="2026-03-01T10:00:00"), RECEIVED)
    assert result.payload["meterValue"][0]["timestamp"] == "2026-03-01T10:00:00Z"
    assert _quirks(result) == {(Quirk.ZONELESS_TIMESTAMP, "meterValue.timestamp")}
    assert tolerate("MeterValues", _meter({"value": "1"}, timestamp="yesterday"), RECEIVED) is None


def test_wrong_types_where_nothing_can_be_read_are_refused():
    assert (
        tolerate(
            "StatusNotification",
            {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
            RECEIVED,
        )
        is None
    )


def test_one_unknown_fault_among_quirks_refuses_the_frame():
    payload = {"connectorId": 1, "errorCode": "Error", "status": "Sleeping"}
    assert tolerate("StatusNotification", payload, RECEIVED) is None


def test_several_quirks_in_one_frame_are_all_listed_and_the_input_is_untouched():
    payload = {
        "connectorId": 1,
        "idTag": "T",
        "meterStart": 0,
        "timestamp": "2026-03-01T10:00:00",
        "vendor": "x",
    }
    result = tolerate("StartTransaction", payload, RECEIVED)
    assert _quirks(result) == {(Quirk.ZONELESS_TIMESTAMP, "timestamp"), (Quirk.EXTRA_PROPERTY, "vendor")}
    assert payload["timestamp"] == "2026-03-01T10:00:00" and "vendor" in payload


def test_security_extension_schemas_with_definitions_are_walked():
    result = tolerate(
        "SignedFirmwareStatusNotification", {"status": "Installed", "requestId": 1, "x": 1}, RECEIVED
    )
    assert _quirks(result) == {(Quirk.EXTRA_PROPERTY, "x")}
    assert tolerate("SignedFirmwareStatusNotification", {"status": "Bricked"}, RECEIVED) is None


def test_a_station_request_needs_a_zone_by_the_schema_a_command_does_not():
    with pytest.raises(OCPPCallError):
        schemas.validate(
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-03-01T10:00:00"},
        )
    schemas.validate(
        "ReserveNow",
        {"connectorId": 1, "expiryDate": "2026-03-01T10:00:00", "idTag": "T", "reservationId": 1},
    )
