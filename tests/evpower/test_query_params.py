"""Query parameters: every list documents its filters (choices with their
values), and the API refuses what it does not know instead of ignoring it."""

import re

import pytest
from rest_framework.test import APIClient

from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

PATH_VALUES = {"station_id": "CP-Q-1"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return APIClient().get("/openapi.json").json()


def _documented_gets(schema) -> list[tuple[str, dict]]:
    found = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get and any(p["in"] == "query" for p in get.get("parameters", [])):
            found.append((path, get))
    return found


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _query(operation) -> dict[str, dict]:
    return {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}


def test_every_list_documents_its_filters_and_pagination(schema):
    lists = dict(_documented_gets(schema))
    assert {"/ocpp/sessions", "/ocpp/transactions", "/ocpp/messages", "/ocpp/reservations"} <= set(lists)
    assert set(_query(lists["/ocpp/sessions"])) == {"station_id", "status", "id_tag", "page", "page_size"}
    assert set(_query(lists["/ocpp/transactions"])) >= {"station_id", "id_tag", "open"}
    assert set(_query(lists["/ocpp/messages"])) >= {"station_id", "action", "direction", "message_type"}
    assert _query(lists["/ocpp/sessions"])["status"]["schema"]["enum"] == [
        "cancelled",
        "charging",
        "completed",
        "created",
        "failed",
        "starting",
        "stopping",
    ]
    assert _query(lists["/ocpp/transactions"])["open"]["schema"]["enum"] == ["false", "true"]
    assert _query(lists["/ocpp/messages"])["direction"]["schema"]["enum"] == ["in", "out"]
    for path, operation in lists.items():
        assert "400" in operation["responses"], path


def test_what_is_documented_is_what_is_accepted(schema, api):
    """For every GET with query parameters: an unknown one answers 400 naming exactly the documented ones."""
    StationFactory(station_id="CP-Q-1")
    for path, operation in _documented_gets(schema):
        response = api["superadmin"].get(_url(path), {"colour": "blue"})

        assert response.status_code == 400, path
        body = response.json()
        assert body["error"] == "unknown_parameter", path
        assert body["allowed"] == sorted(_query(operation)), path
        assert "colour" in body["detail"] and all(name in body["detail"] for name in body["allowed"])


def test_unknown_query_parameter_is_refused_naming_the_allowed_ones(api):
    response = api["operator"].get("/ocpp/sessions", {"stauts": "charging"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "unknown_parameter",
        "detail": "Unknown query parameter stauts; allowed: id_tag, page, page_size, station_id, status.",
        "fields": {"stauts": ["Unknown parameter; allowed: id_tag, page, page_size, station_id, status."]},
        "allowed": ["id_tag", "page", "page_size", "station_id", "status"],
    }


def test_known_parameters_still_filter(api):
    assert api["operator"].get("/ocpp/sessions", {"status": "charging", "page": 1}).status_code == 200
    assert api["operator"].get("/ocpp/connections", {"page_size": 10}).status_code == 200


def test_connections_and_detail_views_refuse_unknown_parameters_too(api):
    assert api["operator"].get("/ocpp/connections", {"verbose": "1"}).status_code == 400
    assert api["admin"].get("/ocpp/tariffs/999", {"verbose": "1"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "name", "allowed"),
    [
        ("/ocpp/sessions", "status", "created, starting, charging, stopping, completed, failed, cancelled"),
        ("/ocpp/transactions", "open", "true, false"),
        ("/ocpp/messages", "direction", "in, out"),
        ("/ocpp/messages", "message_type", "CALL, CALLRESULT, CALLERROR"),
        ("/ocpp/stations", "registration_status", "accepted, pending, rejected"),
        ("/ocpp/id_tags", "status", "Accepted, Blocked, Expired, Invalid"),
        ("/ocpp/tariffs", "is_active", "true, false"),
    ],
)
def test_bad_filter_value_lists_the_allowed_values(api, path, name, allowed):
    response = api["superadmin"].get(path, {name: "maybe"})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["fields"] == {name: [f"'maybe' is not one of: {allowed}."]}


def test_reservation_status_filter_lists_the_allowed_values(api):
    response = api["operator"].get("/ocpp/reservations", {"status": "maybe"})

    assert response.status_code == 400
    assert "requested" in response.json()["detail"] and "expired" in response.json()["detail"]
