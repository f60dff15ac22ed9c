"""`/ocpp/sessions`, `/ocpp/start_charge`, `/ocpp/sessions/{id}/stop` with the station
replaced by a fake `station_command` (the real round trip is in test_sessions_e2e)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import tariffs, transactions
from billing.models import Session, SessionStatus, Tariff
from ocpp_gateway import commands
from ocpp_gateway.commands import CommandFailed
from stations.models import Connector, IdTagStatus, RegistrationStatus
from tests.factories import IdTagFactory, StationFactory, UserFactory
from tests.fakes import FakeStation

pytestmark = pytest.mark.django_db

ROLES = ["client", "operator", "admin", "superadmin"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def station():
    return StationFactory(station_id="CP:01#A+B.2")


@pytest.fixture
def tag(users):
    """The client's own tag."""
    return IdTagFactory(id_tag="CLIENT-TAG", owner=users["client"])


@pytest.fixture
def tariff():
    return Tariff.objects.create(name="Flat", currency="EUR", price_per_kwh="0.30", session_fee="0.50")


@pytest.fixture
def fake(monkeypatch):
    fake = FakeStation(with_station_id=True)
    monkeypatch.setattr(commands, "station_command", fake)
    return fake


def create_body(**fields):
    return {"station_id": "CP:01#A+B.2", "connector_id": 1, "id_tag": "CLIENT-TAG", **fields}


def make_session(station, tag, status=SessionStatus.CREATED, **fields) -> Session:
    return Session.objects.create(
        user=tag.owner, station=station, connector_id=1, id_tag=tag.id_tag, status=status, **fields
    )


def charging_session(station, tag, meter_start=0) -> Session:
    session = make_session(station, tag, status=SessionStatus.STARTING)
    transactions.transaction_start(
        station_pk=station.pk,
        connector_id=1,
        id_tag=tag.id_tag,
        meter_start=meter_start,
        timestamp=datetime.now(UTC),
        reservation_id=None,
        now=datetime.now(UTC),
    )
    session.refresh_from_db()
    return session


# POST /ocpp/sessions ---------------------------------------------------------------------


def test_create_answers_a_created_session_with_the_applicable_tariff(api, station, tag, tariff, users):
    response = api["client"].post(
        "/ocpp/sessions", create_body(limit_kwh="10.5", limit_amount="20"), format="json"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "created"
    assert (data["station_id"], data["connector_id"], data["id_tag"]) == ("CP:01#A+B.2", 1, "CLIENT-TAG")
    assert data["user"] == users["client"].pk
    assert data["tariff"]["tariff_id"] == tariff.pk and data["tariff"]["price_per_kwh"] == "0.3000"
    assert (data["currency"], data["cost"], data["energy_kwh"]) == ("EUR", "0.00", "0.000")
    assert (data["limit_kwh"], data["limit_amount"]) == ("10.500", "20.00")
    assert (data["transaction_id"], data["started_at"], data["duration_seconds"]) == (None, None, 0)
    session = Session.objects.get(pk=data["id"])
    assert session.tariff == tariff and session.tariff_snapshot == data["tariff"]


@pytest.mark.parametrize(("role", "expected"), [("anon", 401), *((r, 201) for r in ROLES)])
def test_create_roles_with_the_clients_tag(api, station, tag, role, expected):
    # Operators and above start and stop for any driver; the client with its own tag.
    assert api[role].post("/ocpp/sessions", create_body(), format="json").status_code == expected


def test_sessions_started_by_staff_belong_to_the_tag_owner(api, station, tag, users):
    data = api["operator"].post("/ocpp/sessions", create_body(), format="json").json()
    assert data["user"] == users["client"].pk
    assert api["client"].get(f"/ocpp/sessions/{data['id']}").status_code == 200


def test_client_cannot_use_another_users_tag(api, station):
    IdTagFactory(id_tag="NOT-MINE", owner=UserFactory())
    IdTagFactory(id_tag="NOBODYS", owner=None)
    for id_tag in ("NOT-MINE", "nobodys"):
        response = api["client"].post("/ocpp/sessions", create_body(id_tag=id_tag), format="json")
        assert response.status_code == 403, id_tag
        assert response.json()["error"] == "permission_denied"
    assert Session.objects.count() == 0


def test_tag_is_matched_case_insensitively_and_stored_as_registered(api, station, tag):
    data = api["client"].post("/ocpp/sessions", create_body(id_tag="client-tag"), format="json").json()
    assert data["id_tag"] == "CLIENT-TAG"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"station_id": "NOPE"}, "station_id"),
        ({"connector_id": 0}, "connector_id"),
        ({"connector_id": -1}, "connector_id"),
        ({"connector_id": 101}, "connector_id"),
        ({"connector_id": "one"}, "connector_id"),
        ({"id_tag": "UNKNOWN"}, "id_tag"),
        ({"id_tag": "X" * 21}, "id_tag"),
        ({"limit_kwh": "-1"}, "limit_kwh"),
        ({"limit_kwh": "0"}, "limit_kwh"),
        ({"limit_kwh": "100000"}, "limit_kwh"),
        ({"limit_amount": "-5"}, "limit_amount"),
        ({"limit_amount": "1e9"}, "limit_amount"),
        ({"limit_amount": "1.001"}, "limit_amount"),
        ({"tariff_id": 999999}, "tariff_id"),
        ({"tariff_id": "cheap"}, "tariff_id"),
    ],
)
def test_invalid_session_input_is_a_400_and_creates_nothing(api, station, tag, tariff, fields, field):
    response = api["client"].post("/ocpp/sessions", create_body(**fields), format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert Session.objects.count() == 0


def test_missing_fields_are_named(api):
    response = api["client"].post("/ocpp/sessions", {}, format="json")
    assert response.status_code == 400
    assert {"station_id", "connector_id", "id_tag"} <= set(response.json()["fields"])


@pytest.mark.parametrize("status", [IdTagStatus.BLOCKED, IdTagStatus.EXPIRED, IdTagStatus.INVALID])
def test_unusable_tag_is_refused(api, station, tag, status):
    tag.status = status
    tag.save()
    response = api["client"].post("/ocpp/sessions", create_body(), format="json")
    assert response.status_code == 400
    assert status in response.json()["fields"]["id_tag"][0]


def test_tag_past_its_expiry_date_is_refused(api, station, tag):
    tag.expiry_date = datetime.now(UTC) - timedelta(days=1)
    tag.save()
    response = api["client"].post("/ocpp/sessions", create_body(), format="json")
    assert response.status_code == 400 and "Expired" in response.json()["fields"]["id_tag"][0]


def test_connector_must_be_one_the_station_reported(api, station, tag):
    Connector.objects.create(station=station, connector_id=0)
    Connector.objects.create(station=station, connector_id=1)
    Connector.objects.create(station=station, connector_id=2)
    assert api["client"].post("/ocpp/sessions", create_body(connector_id=2), format="json").status_code == 201
    response = api["client"].post("/ocpp/sessions", create_body(connector_id=3), format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["connector_id"] == ["The station has connectors 1, 2."]


def test_connector_count_from_the_stations_configuration(api, station, tag):
    station.configuration = {"NumberOfConnectors": "2"}
    station.save()
    assert api["client"].post("/ocpp/sessions", create_body(connector_id=3), format="json").status_code == 400
    assert api["client"].post("/ocpp/sessions", create_body(connector_id=2), format="json").status_code == 201


def test_station_not_accepted_is_refused(api, station, tag):
    station.registration_status = RegistrationStatus.REJECTED
    station.save()
    response = api["client"].post("/ocpp/sessions", create_body(), format="json")
    assert response.status_code == 400 and "station_id" in response.json()["fields"]


def test_explicit_tariff_must_be_active_and_for_this_station(api, station, tag):
    other = StationFactory()
    elsewhere = Tariff.objects.create(name="Other", currency="EUR")
    elsewhere.stations.set([other])
    archived = Tariff.objects.create(name="Old", currency="EUR", is_active=False)
    expired = Tariff.objects.create(
        name="Exp", currency="EUR", valid_to=datetime.now(UTC) - timedelta(days=1)
    )
    mine = Tariff.objects.create(name="Mine", currency="CHF")
    mine.stations.set([station, other])
    for bad in (elsewhere, archived, expired):
        response = api["client"].post("/ocpp/sessions", create_body(tariff_id=bad.pk), format="json")
        assert response.status_code == 400 and "tariff_id" in response.json()["fields"], bad.name
    data = api["client"].post("/ocpp/sessions", create_body(tariff_id=mine.pk), format="json").json()
    assert (data["tariff"]["name"], data["currency"]) == ("Mine", "CHF")


def test_without_a_tariff_the_session_is_free_and_cannot_have_a_cost_limit(api, station, tag):
    data = api["client"].post("/ocpp/sessions", create_body(), format="json").json()
    assert (data["tariff"], data["cost"], data["currency"]) == (None, "0.00", "")
    response = api["client"].post("/ocpp/sessions", create_body(limit_amount="5"), format="json")
    assert response.status_code == 400 and "limit_amount" in response.json()["fields"]


# GET ---------------------------------------------------------------------------------


def test_client_lists_only_its_own_sessions_operators_all(api, station, tag):
    mine = make_session(station, tag)
    other = make_session(station, IdTagFactory())
    assert [s["id"] for s in api["client"].get("/ocpp/sessions").json()["results"]] == [mine.pk]
    for role in ("operator", "admin", "superadmin"):
        ids = [s["id"] for s in api[role].get("/ocpp/sessions").json()["results"]]
        assert ids == [other.pk, mine.pk], role  # newest first
    assert api["anon"].get("/ocpp/sessions").status_code == 401


def test_client_gets_404_for_another_users_session(api, station, tag):
    other = make_session(station, IdTagFactory())
    assert api["client"].get(f"/ocpp/sessions/{other.pk}").status_code == 404
    assert api["operator"].get(f"/ocpp/sessions/{other.pk}").status_code == 200
    assert api["client"].get("/ocpp/sessions/999999").status_code == 404


def test_list_filters_by_station_and_status(api, station, tag):
    here = make_session(station, tag, status=SessionStatus.CHARGING)
    make_session(station, tag, status=SessionStatus.FAILED)
    make_session(StationFactory(), tag, status=SessionStatus.CHARGING)
    results = (
        api["operator"].get("/ocpp/sessions", {"station_id": "CP:01#A+B.2", "status": "charging"}).json()
    )
    assert [s["id"] for s in results["results"]] == [here.pk]
    response = api["operator"].get("/ocpp/sessions", {"status": "bogus"})
    assert response.status_code == 400 and "status" in response.json()["fields"]


def test_list_query_count_is_fixed(api, station, tag, tariff, django_assert_max_num_queries):
    for _ in range(10):
        make_session(station, tag, tariff=tariff, tariff_snapshot=tariffs.tariff_snapshot(tariff))
    with django_assert_max_num_queries(3):  # auth, count, page
        data = api["operator"].get("/ocpp/sessions").json()
    assert data["count"] == 10


def test_live_session_shows_energy_duration_and_cost_in_minor_units(api, station, tag):
    jpy = Tariff.objects.create(name="Yen", currency="JPY", price_per_kwh="33.3")
    session = charging_session(station, tag)
    Session.objects.filter(pk=session.pk).update(
        tariff=jpy,
        tariff_snapshot=tariffs.tariff_snapshot(jpy),
        currency="JPY",
        energy_kwh=Decimal("1.234"),
        cost=Decimal("41.0922"),
        started_at=datetime.now(UTC) - timedelta(seconds=90),
    )
    data = api["client"].get(f"/ocpp/sessions/{session.pk}").json()
    assert (data["status"], data["energy_kwh"], data["cost"], data["currency"]) == (
        "charging",
        "1.234",
        "41",
        "JPY",
    )
    assert data["transaction_id"] == session.transaction_id
    assert 89 <= data["duration_seconds"] <= 95
    assert data["started_at"].endswith("Z")


# POST /ocpp/start_charge -----------------------------------------------------------------


def test_start_charge_sends_remote_start_and_answers_a_starting_session(api, station, tag, tariff, fake):
    response = api["client"].post(
        "/ocpp/start_charge", create_body(connector_id=2, limit_kwh="5"), format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["station_response"] == {"status": "Accepted"}
    assert data["session"]["status"] == "starting" and data["session"]["limit_kwh"] == "5.000"
    assert fake.sent == [("CP:01#A+B.2", "RemoteStartTransaction", {"connectorId": 2, "idTag": "CLIENT-TAG"})]
    assert Session.objects.get(pk=data["session"]["id"]).remote_start_at is not None


def test_start_charge_with_preparing_connector_is_not_blocked(api, station, tag, fake):
    Connector.objects.create(station=station, connector_id=1, status="Preparing")
    response = api["client"].post("/ocpp/start_charge", create_body(), format="json")
    assert response.status_code == 200 and response.json()["session"]["status"] == "starting"


def test_start_charge_of_a_created_session(api, station, tag, fake):
    session = make_session(station, tag)
    response = api["client"].post(
        "/ocpp/start_charge", {"session_id": session.pk, "limit_kwh": "7"}, format="json"
    )
    assert response.status_code == 200, response.json()
    session.refresh_from_db()
    assert (session.status, session.limit_kwh) == (SessionStatus.STARTING, Decimal("7"))
    assert Session.objects.count() == 1


def test_start_charge_of_a_session_not_created_is_a_409(api, station, tag, fake):
    session = make_session(station, tag, status=SessionStatus.CANCELLED)
    response = api["client"].post("/ocpp/start_charge", {"session_id": session.pk}, format="json")
    assert response.status_code == 409
    assert fake.sent == []


def test_start_charge_of_another_users_session_is_a_404(api, station, fake):
    session = make_session(station, IdTagFactory())
    response = api["client"].post("/ocpp/start_charge", {"session_id": session.pk}, format="json")
    assert response.status_code == 404 and fake.sent == []


def test_start_charge_body_must_match_the_session(api, station, tag, fake):
    session = make_session(station, tag)
    response = api["client"].post(
        "/ocpp/start_charge", create_body(session_id=session.pk, connector_id=2), format="json"
    )
    assert response.status_code == 400 and "connector_id" in response.json()["fields"]
    assert fake.sent == []


def test_start_charge_with_another_users_tag_is_a_403(api, station, fake):
    IdTagFactory(id_tag="NOT-MINE")
    response = api["client"].post("/ocpp/start_charge", create_body(id_tag="NOT-MINE"), format="json")
    assert response.status_code == 403
    assert (Session.objects.count(), fake.sent) == (0, [])


def test_operator_starts_with_any_tag(api, station, fake):
    IdTagFactory(id_tag="DRIVER")
    response = api["operator"].post("/ocpp/start_charge", create_body(id_tag="DRIVER"), format="json")
    assert response.status_code == 200 and fake.sent


def test_station_rejecting_remote_start_fails_the_session(api, station, tag, fake):
    fake.answers["RemoteStartTransaction"] = {"status": "Rejected"}
    response = api["client"].post("/ocpp/start_charge", create_body(), format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["station_response"] == {"status": "Rejected"}
    assert (data["session"]["status"], data["session"]["stop_reason"]) == ("failed", "Rejected")
    assert data["session"]["stopped_at"] is not None


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (CommandFailed(commands.NOT_CONNECTED), 409, "NotConnected"),
        (CommandFailed(commands.STATION_ERROR, "InternalError", "boom"), 502, "StationError"),
        (CommandFailed(commands.TIMEOUT), 504, "Timeout"),
        (CommandFailed(commands.DISCONNECTED), 504, "Timeout"),
    ],
)
def test_start_charge_command_failure_fails_the_session_and_is_reported(
    api, station, tag, fake, error, status, reason
):
    fake.errors["RemoteStartTransaction"] = error
    response = api["client"].post("/ocpp/start_charge", create_body(), format="json")
    assert response.status_code == status
    data = response.json()
    assert (data["error"], data["detail"]) == (error.code, str(error.detail))
    assert (data["session"]["status"], data["session"]["stop_reason"]) == ("failed", reason)
    assert Session.objects.get().status == SessionStatus.FAILED


def test_a_station_starting_before_its_reply_keeps_the_session_charging(api, station, tag, fake):
    def start_transaction(payload):
        # The station's StartTransaction is handled before its RemoteStart reply arrives.
        transactions.transaction_start(
            station_pk=station.pk,
            connector_id=payload["connectorId"],
            id_tag=payload["idTag"],
            meter_start=0,
            timestamp=datetime.now(UTC),
            reservation_id=None,
            now=datetime.now(UTC),
        )

    fake.during["RemoteStartTransaction"] = start_transaction
    data = api["client"].post("/ocpp/start_charge", create_body(), format="json").json()
    assert data["session"]["status"] == "charging"
    assert data["session"]["transaction_id"] is not None
    # Even when the reply is a timeout, the session that did start is not failed.
    fake.errors["RemoteStartTransaction"] = CommandFailed(commands.TIMEOUT)
    data = api["client"].post("/ocpp/start_charge", create_body(connector_id=2), format="json").json()
    assert data["session"]["status"] == "charging"


def test_start_charge_validation_errors(api, station, tag, fake):
    response = api["client"].post("/ocpp/start_charge", {"connector_id": 1}, format="json")
    assert response.status_code == 400
    assert {"station_id", "id_tag"} <= set(response.json()["fields"])
    response = api["client"].post("/ocpp/start_charge", create_body(station_id="NOPE"), format="json")
    assert response.status_code == 400
    assert (Session.objects.count(), fake.sent) == (0, [])


@pytest.mark.parametrize(("role", "expected"), [("anon", 401), *((r, 200) for r in ROLES)])
def test_start_charge_roles(api, station, tag, fake, role, expected):
    assert api[role].post("/ocpp/start_charge", create_body(), format="json").status_code == expected


# POST /ocpp/sessions/{id}/stop ----------------------------------------------------------


def test_stopping_a_created_session_cancels_it_without_a_message(api, station, tag, fake):
    session = make_session(station, tag)
    response = api["client"].post(f"/ocpp/sessions/{session.pk}/stop")
    assert response.status_code == 200
    data = response.json()
    assert data["station_response"] is None
    assert (data["session"]["status"], data["session"]["stop_reason"]) == ("cancelled", "Cancelled")
    assert fake.sent == []


def test_stopping_a_charging_session_sends_remote_stop(api, station, tag, fake):
    session = charging_session(station, tag)
    response = api["client"].post(f"/ocpp/sessions/{session.pk}/stop/")
    assert response.status_code == 200
    assert response.json()["session"]["status"] == "stopping"
    assert fake.sent == [("CP:01#A+B.2", "RemoteStopTransaction", {"transactionId": session.transaction_id})]


def test_stop_rejected_by_the_station_leaves_the_session_charging(api, station, tag, fake):
    session = charging_session(station, tag)
    fake.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    data = api["client"].post(f"/ocpp/sessions/{session.pk}/stop").json()
    assert data["station_response"] == {"status": "Rejected"}
    assert data["session"]["status"] == "charging"


def test_stop_that_cannot_be_sent_leaves_the_session_charging(api, station, tag, fake):
    session = charging_session(station, tag)
    fake.errors["RemoteStopTransaction"] = CommandFailed(commands.NOT_CONNECTED)
    response = api["client"].post(f"/ocpp/sessions/{session.pk}/stop")
    assert response.status_code == 409
    assert response.json()["session"]["status"] == "charging"


def test_stop_may_be_repeated_while_stopping(api, station, tag, fake):
    session = charging_session(station, tag)
    api["client"].post(f"/ocpp/sessions/{session.pk}/stop")
    fake.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    data = api["client"].post(f"/ocpp/sessions/{session.pk}/stop").json()
    assert len(fake.sent) == 2
    assert data["session"]["status"] == "stopping"  # the first stop was accepted


@pytest.mark.parametrize(
    "status",
    [SessionStatus.STARTING, SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED],
)
def test_stopping_a_session_in_another_state_is_a_409(api, station, tag, fake, status):
    session = make_session(station, tag, status=status)
    response = api["client"].post(f"/ocpp/sessions/{session.pk}/stop")
    assert response.status_code == 409 and response.json()["error"] == "invalid_state"
    assert fake.sent == []


@pytest.mark.parametrize(("role", "expected"), [("anon", 401), *((r, 200) for r in ROLES)])
def test_stop_roles_for_the_clients_session(api, station, tag, fake, role, expected):
    session = charging_session(station, tag)
    assert api[role].post(f"/ocpp/sessions/{session.pk}/stop").status_code == expected


def test_client_cannot_stop_another_users_session(api, station, fake):
    session = charging_session(station, IdTagFactory())
    assert api["client"].post(f"/ocpp/sessions/{session.pk}/stop").status_code == 404
    assert fake.sent == []


def test_start_charge_channel_layer_failure_does_not_leave_the_session_starting(api, station, tag, fake):
    fake.errors["RemoteStartTransaction"] = ConnectionError("redis is down")
    response = api["client"].post("/ocpp/start_charge", create_body(), format="json")
    assert response.status_code == 500 and response.json()["error"] == "server_error"
    assert Session.objects.get().status == SessionStatus.FAILED
