"""Bad API input is answered with a JSON 4xx, never a 500 or an HTML page,
on SQLite and on PostgreSQL (NUL characters, numbers beyond a column)."""

import json
import logging
from datetime import UTC, datetime

import pytest
from django.db import DataError, connection
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient, APIRequestFactory

from billing.models import Tariff
from evpower.api.errors import api_exception_handler
from stations.models import MessageLog
from stations.serializers import MessageOutput
from tests.factories import IdTagFactory, StationFactory

pytestmark = pytest.mark.django_db

SURROGATE = "\ud800"  # valid in JSON text ("\ud800"), not encodable as UTF-8
NUL = "a\u0000b"


@pytest.fixture
def station():
    return StationFactory(station_id="CP-1")


def _json_error(response, *statuses: int) -> dict:
    assert response.status_code in statuses, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= {"error", "detail"}
    return body


# A choice field quotes the value it refuses in its message -----------------------------


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/ocpp/stations", {"station_id": "CP-2", "registration_status": SURROGATE}),
        ("patch", "/ocpp/stations/CP-1", {"registration_status": SURROGATE}),
        ("post", "/ocpp/id_tags", {"id_tag": "T1", "status": SURROGATE}),
        ("post", "/ocpp/users", {"username": "bob", "password": "Plug-in-2-charge!", "role": SURROGATE}),
        (
            "post",
            "/ocpp/charging_profiles",
            {"charging_profile_id": 1, "purpose": SURROGATE, "stack_level": 0, "kind": "Absolute"},
        ),
        ("post", "/ocpp/stations/CP-1/local_list/sync", {"update_type": SURROGATE}),
        ("post", "/ocpp/sessions", {"station_id": "CP-1", "connector_id": 1, "id_tag": SURROGATE}),
    ],
)
def test_lone_surrogate_in_input_is_a_json_validation_error(api, station, method, path, body):
    # As a client sends it: escaped JSON text (the test client's renderer cannot encode it).
    text = json.dumps(body)
    assert "\\ud800" in text

    response = getattr(api["superadmin"], method)(path, text, content_type="application/json")

    assert _json_error(response, 400)["error"] == "validation_error"


def _message(payload) -> MessageLog:
    # As logged when send_command passes such a DataTransfer payload on.
    return MessageLog(
        station_id="CP-1",
        direction="out",
        message_type="CALL",
        action="DataTransfer",
        payload=payload,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
    )


def test_message_with_a_lone_surrogate_in_its_payload_renders():
    message = _message({"vendorId": "x", f"k{SURROGATE}": f"a{SURROGATE}b"})

    rendered = json.loads(JSONRenderer().render(MessageOutput(message).data))

    assert rendered["payload"] == {"vendorId": "x", "k\\ud800": "a\\ud800b"}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses to store it")
def test_message_log_with_a_lone_surrogate_in_a_payload_is_listed(api):
    _message({"vendorId": "x", "data": f"a{SURROGATE}b"}).save()

    response = api["operator"].get("/ocpp/messages")

    assert response.status_code == 200
    assert response.json()["results"][0]["payload"] == {"vendorId": "x", "data": "a\\ud800b"}


# Bodies the JSON parser cannot take ---------------------------------------------------


@pytest.mark.parametrize("depth", [5000, 100_000])
@pytest.mark.parametrize(
    "path", ["/auth/token", "/ocpp/stations", "/ocpp/charging_profiles", "/ocpp/send_command"]
)
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_a_parse_error(api, path, depth, opener):
    response = api["superadmin"].post(path, opener * depth, content_type="application/json")

    assert _json_error(response, 400)["error"] == "parse_error"


def test_recursion_error_outside_the_parser_stays_a_500():
    request = APIRequestFactory().get("/")

    response = api_exception_handler(RecursionError(), {"request": request, "view": None})

    assert response.status_code == 500


# NUL characters: PostgreSQL refuses them even in a lookup -------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/ocpp/stations/a%00b"),
        ("patch", "/ocpp/stations/a%00b"),
        ("delete", "/ocpp/stations/a%00b"),
        ("get", "/ocpp/status/a%00b"),
        ("get", "/ocpp/stations/a%00b/charging_profiles"),
        ("get", "/ocpp/stations/a%00b/local_list"),
        ("put", "/ocpp/stations/a%00b/local_list"),
        ("post", "/ocpp/stations/a%00b/local_list/sync"),
        ("get", "/ocpp/id_tags/a%00b"),
        ("delete", "/ocpp/id_tags/a%00b"),
    ],
)
def test_nul_in_a_path_id_is_a_json_4xx(api, method, path):
    response = getattr(api["superadmin"], method)(path, {}, format="json")

    _json_error(response, 400, 404)


@pytest.mark.parametrize(
    "path",
    [
        "/ocpp/reservations?station_id=a%00b",
        "/ocpp/sessions?station_id=a%00b",
        "/ocpp/transactions?id_tag=a%00b",
        "/ocpp/messages?action=a%00b",
    ],
)
def test_nul_in_a_query_filter_is_json(api, path):
    response = api["superadmin"].get(path)

    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("method,path", [("post", "/ocpp/tariffs"), ("patch", "/ocpp/tariffs/{pk}")])
def test_nul_in_a_tariffs_station_list_is_a_400(api, station, method, path):
    tariff = Tariff.objects.create(name="t", currency="EUR")
    body = {"name": "t", "currency": "EUR", "stations": [NUL]}

    response = getattr(api["admin"], method)(path.format(pk=tariff.pk), body, format="json")

    _json_error(response, 400)


def test_database_data_error_is_a_logged_400(caplog):
    request = APIRequestFactory().get("/")

    with caplog.at_level(logging.WARNING, logger="evpower.api.errors"):
        response = api_exception_handler(DataError("out of range"), {"request": request, "view": None})

    assert response.status_code == 400
    assert response.data["error"] == "invalid_input"
    assert "out of range" in caplog.text


# Numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "owner", ["99999999999999999999", "-8.58e78", "1e400", "nan", "inf", "1.5", "0", "-1", "x"]
)
def test_id_tag_owner_filter_refuses_what_is_no_user_id(api, owner):
    response = api["operator"].get(f"/ocpp/id_tags?owner={owner}")

    assert "owner" in _json_error(response, 400)["fields"]


def test_id_tag_owner_filter_still_filters(api, users):
    IdTagFactory(id_tag="MINE", owner=users["client"])
    IdTagFactory(id_tag="THEIRS")

    response = api["operator"].get(f"/ocpp/id_tags?owner={users['client'].pk}")

    assert [t["id_tag"] for t in response.json()["results"]] == ["MINE"]


@pytest.mark.parametrize("number", [2**31, 2**63, 2**64, 10**40])
@pytest.mark.parametrize(
    "path",
    [
        "/ocpp/tariffs/{}",
        "/ocpp/sessions/{}",
        "/ocpp/transactions/{}",
        "/ocpp/reservations/{}",
        "/ocpp/charging_profiles/{}",
        "/ocpp/users/{}",
    ],
)
def test_huge_path_id_is_a_json_404(api, path, number):
    _json_error(api["superadmin"].get(path.format(number)), 404)


@pytest.mark.parametrize("number", [2**31, 2**63, -(2**63) - 1, 10**40])
@pytest.mark.parametrize(
    "path,body",
    [
        ("/ocpp/sessions", {"station_id": "CP-1", "id_tag": "T1", "connector_id": "{}"}),
        ("/ocpp/sessions", {"station_id": "CP-1", "id_tag": "T1", "connector_id": 1, "tariff_id": "{}"}),
        ("/ocpp/start_charge", {"session_id": "{}"}),
        ("/ocpp/id_tags", {"id_tag": "T2", "owner": "{}"}),
        ("/ocpp/reservations", {"station_id": "CP-1", "id_tag": "T1", "connector_id": "{}"}),
        ("/ocpp/stations/CP-1/charging_profiles", {"charging_profile_id": "{}", "connector_id": 1}),
        ("/ocpp/tariffs", {"name": "t", "currency": "EUR", "idle_grace_minutes": "{}"}),
    ],
)
def test_huge_number_in_a_body_is_a_json_4xx(api, station, path, body, number):
    IdTagFactory(id_tag="T1")
    body = {k: number if v == "{}" else v for k, v in body.items()}

    _json_error(api["superadmin"].post(path, body, format="json"), 400, 404)


# Other URLs ---------------------------------------------------------------------------


def test_post_to_an_unknown_path_is_a_json_404_not_a_csrf_page():
    response = APIClient(enforce_csrf_checks=True).post("/ocpp/nope", {}, format="json")

    assert _json_error(response, 404)["error"] == "not_found"


# The schema says what the responses hold ----------------------------------------------


def test_schema_documents_cost_as_a_string_and_last_seen_as_nullable():
    schemas = APIClient().get("/openapi.json").json()["components"]["schemas"]

    assert schemas["SessionOutput"]["properties"]["cost"]["type"] == "string"
    assert schemas["StationOutput"]["properties"]["last_seen"]["nullable"] is True
