from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from billing.models import Session, Transaction
from ocpp_gateway.runtime import committer
from stations.models import Connector, Station
from tests.factories import StationFactory
from tests.ocpp_gateway.conftest import communicator_for

pytestmark = pytest.mark.django_db

ENCODED = "CP%3A01%23A%2BB.2"  # CP:01#A+B.2
STATION_FIELDS = {
    "station_id",
    "registration_status",
    "time_zone",
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "tolerance",
    "has_password",
    "online",
    "last_seen",
    "connectors",
}


def _status_matrix(api, method, path, body=None):
    return {
        role: getattr(client, method)(path, body, format="json").status_code for role, client in api.items()
    }


def test_station_list_is_for_operators_and_up(api):
    assert _status_matrix(api, "get", "/ocpp/stations") == {
        "anon": 401,
        "client": 403,
        "operator": 200,
        "admin": 200,
        "superadmin": 200,
    }


def test_station_create_is_for_admins_and_up(api):
    codes = {
        role: client.post("/ocpp/stations", {"station_id": f"CP-{role}"}, format="json").status_code
        for role, client in api.items()
    }
    assert codes == {"anon": 401, "client": 403, "operator": 403, "admin": 201, "superadmin": 201}


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("get", {"anon": 401, "client": 403, "operator": 200, "admin": 200, "superadmin": 200}),
        ("patch", {"anon": 401, "client": 403, "operator": 403, "admin": 200, "superadmin": 200}),
    ],
)
def test_station_detail_roles(api, method, expected):
    StationFactory(station_id="CP-1")
    assert _status_matrix(api, method, "/ocpp/stations/CP-1", {"vendor": "X"}) == expected


def test_station_delete_roles(api):
    for role in api:
        StationFactory(station_id=f"CP-{role}")
    codes = {role: client.delete(f"/ocpp/stations/CP-{role}").status_code for role, client in api.items()}
    assert codes == {"anon": 401, "client": 403, "operator": 403, "admin": 204, "superadmin": 204}


def test_created_station_has_the_resource_shape_and_no_password_in_it(api):
    response = api["admin"].post(
        "/ocpp/stations",
        {"station_id": "CP-9", "password": "s3cret-pass", "vendor": "ACME", "model": "Fast"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == STATION_FIELDS
    assert body["station_id"] == "CP-9"
    assert body["registration_status"] == "accepted"
    assert (body["vendor"], body["model"], body["serial_number"]) == ("ACME", "Fast", "")
    assert body["online"] is False
    assert body["last_seen"] is None
    assert body["connectors"] == []
    assert body["has_password"] is True


def test_station_password_is_stored_hashed(api):
    api["admin"].post("/ocpp/stations", {"station_id": "CP-9", "password": "s3cret-pass"}, format="json")
    station = Station.objects.get(station_id="CP-9")
    assert station.password_hash != "s3cret-pass"
    assert "s3cret-pass" not in station.password_hash
    assert station.check_password("s3cret-pass")
    assert not station.check_password("wrong")


def test_patch_sets_a_password_and_null_clears_it(api):
    StationFactory(station_id="CP-1")
    assert (
        api["admin"]
        .patch("/ocpp/stations/CP-1", {"password": "new-pass-1"}, format="json")
        .json()["has_password"]
    )
    assert Station.objects.get(station_id="CP-1").check_password("new-pass-1")

    response = api["admin"].patch("/ocpp/stations/CP-1", {"password": None}, format="json")
    assert response.status_code == 200
    assert "password" not in response.json()
    assert response.json()["has_password"] is False
    station = Station.objects.get(station_id="CP-1")
    assert station.password_hash == ""
    assert not station.check_password("new-pass-1")


def test_patch_with_an_empty_password_clears_it(api):
    station = StationFactory(station_id="CP-1")
    station.set_password("old-pass")
    station.save()
    api["admin"].patch("/ocpp/stations/CP-1", {"password": ""}, format="json")
    assert Station.objects.get(station_id="CP-1").password_hash == ""


def test_patch_without_a_password_keeps_it(api):
    station = StationFactory(station_id="CP-1")
    station.set_password("old-pass")
    station.save()
    api["admin"].patch("/ocpp/stations/CP-1", {"vendor": "ACME"}, format="json")
    station.refresh_from_db()
    assert station.check_password("old-pass")
    assert station.vendor == "ACME"


@override_settings(STATION_TIME_ZONE="Europe/Paris")
def test_time_zone_defaults_to_the_setting(api):
    body = api["admin"].post("/ocpp/stations", {"station_id": "CP-9"}, format="json").json()
    assert body["time_zone"] == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "europe/berlin"])
def test_unknown_time_zone_is_refused(api, zone):
    response = api["admin"].post("/ocpp/stations", {"station_id": "CP-9", "time_zone": zone}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "time_zone" in response.json()["fields"]
    assert not Station.objects.exists()


def test_time_zone_is_changed_by_patch(api):
    StationFactory(station_id="CP-1")
    response = api["admin"].patch("/ocpp/stations/CP-1", {"time_zone": "America/New_York"}, format="json")
    assert response.json()["time_zone"] == "America/New_York"
    bad = api["admin"].patch("/ocpp/stations/CP-1", {"time_zone": "Nowhere/City"}, format="json")
    assert bad.status_code == 400
    assert Station.objects.get().time_zone == "America/New_York"


@pytest.mark.parametrize("station_id", ["", "a/b", "x" * 49, "bad\x01id", "tab\tid"])
def test_invalid_station_id_is_refused(api, station_id):
    response = api["admin"].post("/ocpp/stations", {"station_id": station_id}, format="json")
    assert response.status_code == 400
    assert "station_id" in response.json()["fields"]


def test_duplicate_station_id_is_a_validation_error(api):
    StationFactory(station_id="CP-1")
    response = api["admin"].post("/ocpp/stations", {"station_id": "CP-1"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["station_id"]
    assert Station.objects.count() == 1


def test_station_id_cannot_be_changed(api):
    StationFactory(station_id="CP-1")
    response = api["admin"].patch("/ocpp/stations/CP-1", {"station_id": "CP-2"}, format="json")
    assert response.status_code == 400
    assert Station.objects.filter(station_id="CP-1").exists()


def test_registration_status_is_validated_and_changed(api):
    StationFactory(station_id="CP-1")
    assert (
        api["admin"].patch("/ocpp/stations/CP-1", {"registration_status": "maybe"}, format="json").status_code
        == 400
    )
    response = api["admin"].patch("/ocpp/stations/CP-1", {"registration_status": "rejected"}, format="json")
    assert response.json()["registration_status"] == "rejected"
    assert Station.objects.get().registration_status == "rejected"


def test_firmware_version_is_read_only(api):
    StationFactory(station_id="CP-1", firmware_version="1.0")
    api["admin"].patch("/ocpp/stations/CP-1", {"firmware_version": "6.6.6"}, format="json")
    assert Station.objects.get().firmware_version == "1.0"


def test_percent_encoded_station_id_works_in_every_method(api):
    created = api["admin"].post("/ocpp/stations", {"station_id": "CP:01#A+B.2"}, format="json")
    assert created.status_code == 201
    assert api["operator"].get(f"/ocpp/stations/{ENCODED}").json()["station_id"] == "CP:01#A+B.2"
    patched = api["admin"].patch(f"/ocpp/stations/{ENCODED}/", {"vendor": "ACME"}, format="json")
    assert patched.status_code == 200
    assert Station.objects.get(station_id="CP:01#A+B.2").vendor == "ACME"
    assert api["admin"].delete(f"/ocpp/stations/{ENCODED}").status_code == 204
    assert not Station.objects.exists()


def test_paths_work_with_and_without_trailing_slash(api):
    StationFactory(station_id="CP-1")
    assert api["operator"].get("/ocpp/stations/").status_code == 200
    assert api["operator"].get("/ocpp/stations").status_code == 200
    assert api["operator"].get("/ocpp/stations/CP-1/").status_code == 200


def test_unknown_station_is_404_json(api):
    response = api["operator"].get("/ocpp/stations/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert api["admin"].patch("/ocpp/stations/nope", {}, format="json").status_code == 404
    assert api["admin"].delete("/ocpp/stations/nope").status_code == 404


def test_station_shows_connectors_in_order(api):
    station = StationFactory(station_id="CP-1")
    Connector.objects.create(station=station, connector_id=2, status="Charging", error_code="NoError")
    Connector.objects.create(
        station=station, connector_id=1, status="Faulted", error_code="GroundFailure", info="trip"
    )
    connectors = api["operator"].get("/ocpp/stations/CP-1").json()["connectors"]
    assert [c["connector_id"] for c in connectors] == [1, 2]
    assert set(connectors[0]) == {"connector_id", "status", "error_code", "info", "updated_at"}
    assert (connectors[0]["status"], connectors[0]["error_code"], connectors[0]["info"]) == (
        "Faulted",
        "GroundFailure",
        "trip",
    )
    assert connectors[0]["updated_at"].endswith("Z")


def test_online_and_last_seen_come_from_live_presence(api, live):
    StationFactory(station_id="CP-1", last_seen=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    StationFactory(station_id="CP-2", last_seen=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    live.connect("CP-1", since="2024-05-01T11:00:00Z", last_seen="2024-05-01T12:00:07Z")

    one = api["operator"].get("/ocpp/stations/CP-1").json()
    assert one["online"] is True
    assert one["last_seen"] == "2024-05-01T12:00:07Z"  # presence is newer than the database
    two = api["operator"].get("/ocpp/stations/CP-2").json()
    assert two["online"] is False
    assert two["last_seen"] == "2024-05-01T12:00:00Z"


def test_stored_last_seen_wins_when_it_is_later(api, live):
    StationFactory(station_id="CP-1", last_seen=datetime(2024, 5, 1, 13, 0, tzinfo=UTC))
    live.connect("CP-1", since="2024-05-01T11:00:00Z", last_seen="2024-05-01T12:00:07Z")
    assert api["operator"].get("/ocpp/stations/CP-1").json()["last_seen"] == "2024-05-01T13:00:00Z"


def test_list_reads_presence_once_not_per_station(api, live):
    for n in range(5):
        StationFactory(station_id=f"CP-{n}")
    live.connect("CP-3", since="2024-05-01T11:00:00Z", last_seen="2024-05-01T12:00:00Z")
    results = api["operator"].get("/ocpp/stations").json()["results"]
    assert live.calls == {"connections": 1, "connection_get": 0}
    assert {r["station_id"]: r["online"] for r in results} == {
        "CP-0": False,
        "CP-1": False,
        "CP-2": False,
        "CP-3": True,
        "CP-4": False,
    }


def test_list_is_newest_first_and_paginated(api):
    for n in range(3):
        StationFactory(station_id=f"CP-{n}")
    body = api["operator"].get("/ocpp/stations?page_size=2").json()
    assert body["count"] == 3
    assert [r["station_id"] for r in body["results"]] == ["CP-2", "CP-1"]
    assert body["next"] is not None and body["previous"] is None
    page2 = api["operator"].get("/ocpp/stations?page_size=2&page=2").json()
    assert [r["station_id"] for r in page2["results"]] == ["CP-0"]


def test_list_filters_by_registration_status(api):
    StationFactory(station_id="CP-1", registration_status="pending")
    StationFactory(station_id="CP-2")
    body = api["operator"].get("/ocpp/stations?registration_status=pending").json()
    assert [r["station_id"] for r in body["results"]] == ["CP-1"]
    bad = api["operator"].get("/ocpp/stations?registration_status=sleepy")
    assert bad.status_code == 400
    assert bad.json()["error"] == "validation_error"


def test_list_query_count_does_not_grow_with_stations(api, live, django_assert_max_num_queries):
    for n in range(20):
        station = StationFactory(station_id=f"CP-{n}")
        for connector_id in (1, 2):
            Connector.objects.create(station=station, connector_id=connector_id, status="Available")
    client = api["operator"]
    # token + count + page + connectors
    with django_assert_max_num_queries(4):
        body = client.get("/ocpp/stations").json()
    assert len(body["results"]) == 20
    assert all(len(r["connectors"]) == 2 for r in body["results"])


def _transaction(station, **kwargs):
    return Transaction.objects.create(
        station=station,
        connector_id=1,
        id_tag="TAG1",
        meter_start=0,
        started_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        **kwargs,
    )


def test_delete_of_a_station_with_transactions_is_a_conflict(api):
    station = StationFactory(station_id="CP-1")
    _transaction(station)
    response = api["admin"].delete("/ocpp/stations/CP-1")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert Station.objects.filter(station_id="CP-1").exists()


def test_delete_of_a_station_with_sessions_is_a_conflict(api):
    station = StationFactory(station_id="CP-1")
    Session.objects.create(station=station, connector_id=1, id_tag="TAG1")
    assert api["admin"].delete("/ocpp/stations/CP-1").status_code == 409
    assert Station.objects.filter(station_id="CP-1").exists()


def test_delete_removes_the_station_and_its_connectors(api):
    station = StationFactory(station_id="CP-1")
    Connector.objects.create(station=station, connector_id=1)
    assert api["admin"].delete("/ocpp/stations/CP-1").status_code == 204
    assert not Station.objects.exists()
    assert not Connector.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_delete_closes_the_stations_live_connection(api):
    comm = await communicator_for("CP-1")
    assert (await comm.connect())[0]

    response = await sync_to_async(api["admin"].delete)("/ocpp/stations/CP-1")

    assert response.status_code == 204
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4000}
    await comm.disconnect()
    await committer().close()
