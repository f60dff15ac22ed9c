from datetime import UTC, datetime, timedelta

import pytest

from stations.models import MessageLog

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _log(n, **kwargs):
    fields = {
        "station_id": "CP-1",
        "direction": "in",
        "message_type": "CALL",
        "action": "Heartbeat",
        "unique_id": f"u{n}",
        "payload": {},
        "created_at": T0 + timedelta(seconds=n),
    }
    return MessageLog.objects.create(**{**fields, **kwargs})


def test_message_log_is_for_operators_and_up(api):
    codes = {role: client.get("/ocpp/messages").status_code for role, client in api.items()}
    assert codes == {"anon": 401, "client": 403, "operator": 200, "admin": 200, "superadmin": 200}


def test_message_has_the_resource_shape(api):
    _log(1, action="BootNotification", payload={"chargePointVendor": "ACME", "chargePointModel": "X"})
    (message,) = api["operator"].get("/ocpp/messages").json()["results"]
    assert message == {
        "station_id": "CP-1",
        "direction": "in",
        "message_type": "CALL",
        "action": "BootNotification",
        "unique_id": "u1",
        "payload": {"chargePointVendor": "ACME", "chargePointModel": "X"},
        "created_at": "2024-05-01T12:00:01Z",
    }


def test_message_log_is_newest_first_and_paginated(api):
    for n in range(5):
        _log(n)
    body = api["operator"].get("/ocpp/messages?page_size=2").json()
    assert body["count"] == 5
    assert [m["unique_id"] for m in body["results"]] == ["u4", "u3"]
    assert body["next"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("station_id=CP%3A01%23A%2BB.2", {"u2"}),
        ("action=StatusNotification", {"u3"}),
        ("direction=out", {"u4"}),
        ("message_type=CALLERROR", {"u5"}),
        ("direction=out&message_type=CALLERROR", set()),
    ],
)
def test_message_log_filters(api, query, expected):
    _log(1)
    _log(2, station_id="CP:01#A+B.2")
    _log(3, action="StatusNotification")
    _log(4, direction="out", message_type="CALLRESULT")
    _log(5, message_type="CALLERROR", action="")
    results = api["operator"].get(f"/ocpp/messages?{query}").json()["results"]
    assert {m["unique_id"] for m in results} == expected


@pytest.mark.parametrize("query", ["direction=sideways", "message_type=CALLMAYBE"])
def test_bad_filter_values_are_refused(api, query):
    response = api["operator"].get(f"/ocpp/messages?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_message_log_query_count_is_constant(api, django_assert_max_num_queries):
    for n in range(30):
        _log(n)
    client = api["operator"]
    with django_assert_max_num_queries(3):  # token + count + page
        assert len(client.get("/ocpp/messages").json()["results"]) == 30
