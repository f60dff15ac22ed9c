"""The OpenAPI document of `POST /ocpp/send_command`: each of the nineteen
commands with its OCPP 1.6 request schema, keyed by `command`, and every
error it answers."""

import json

import pytest
from rest_framework.test import APIClient

from ocpp16 import schemas
from ocpp16.schemas import CENTRAL_ACTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return APIClient().get("/openapi.json").json()


def _resolve(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_request_is_a_one_of_the_nineteen_commands_keyed_by_command(schema):
    body = schema["paths"]["/ocpp/send_command"]["post"]["requestBody"]
    request = body["content"]["application/json"]["schema"]

    assert body["required"] is True
    assert len(request["oneOf"]) == 19
    assert request["discriminator"]["propertyName"] == "command"
    assert sorted(request["discriminator"]["mapping"]) == sorted(CENTRAL_ACTIONS)
    for action, ref in request["discriminator"]["mapping"].items():
        command = _resolve(schema, ref)
        assert {"$ref": ref} in request["oneOf"]
        assert command["properties"]["command"]["enum"] == [action]
        assert command["required"] == ["station_id", "command", "payload"]


def _payload(schema: dict, action: str) -> dict:
    mapping = schema["paths"]["/ocpp/send_command"]["post"]["requestBody"]["content"]["application/json"]
    return _resolve(schema, mapping["schema"]["discriminator"]["mapping"][action])["properties"]["payload"]


@pytest.mark.parametrize("action", CENTRAL_ACTIONS)
def test_each_payload_is_the_schema_payloads_are_validated_against(schema, action):
    payload = _payload(schema, action)
    ocpp_schema = schemas.schema(action)

    assert payload["properties"] == ocpp_schema["properties"]
    assert payload.get("required") == ocpp_schema.get("required")
    assert payload["additionalProperties"] is False


def test_charging_rates_are_documented_without_the_multiple_of_that_is_not_enforced(schema):
    # 21.4 A is a valid limit; OCPP's multipleOf 0.1 would refuse it in binary floats.
    assert "multipleOf" not in json.dumps(_payload(schema, "SetChargingProfile"))
    schemas.validate(
        "SetChargingProfile",
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
                },
            },
        },
    )


def test_reset_payload_lists_its_types(schema):
    reset = schema["components"]["schemas"]["SendCommandReset"]["properties"]["payload"]
    assert reset["properties"]["type"]["enum"] == ["Hard", "Soft"]


def test_every_error_response_is_documented_with_the_error_shape(schema):
    responses = schema["paths"]["/ocpp/send_command"]["post"]["responses"]

    for status in ("400", "404", "409", "503", "504"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorOutput"), status
    station_error = _resolve(schema, responses["502"]["content"]["application/json"]["schema"]["$ref"])
    assert {"error", "detail", "error_code", "error_description"} <= set(station_error["properties"])
    assert set(station_error["required"]) >= {"error", "detail"}
