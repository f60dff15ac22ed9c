"""Reservations API: /ocpp/reservations (ReserveNow, CancelReservation)."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations.models import Reservation
from tests.factories import IdTagFactory, StationFactory
from tests.live import http
from tests.station import now_iso, station_session

ROLES = ["client", "operator", "admin", "superadmin"]


def future(hours=2):
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def station_cmd(station_cmd):
    station_cmd.with_station_id = True  # sent: (station_id, action, payload)
    return station_cmd


def body(station, tag, **extra):
    return {
        "station_id": station.station_id,
        "connector_id": 1,
        "id_tag": tag.id_tag,
        "expiry_date": future(),
        **extra,
    }


@pytest.mark.django_db
class TestCreate:
    @pytest.mark.parametrize("role", ROLES)
    def test_every_role_reserves_with_a_tag_it_may_use(self, api, users, station_cmd, role):
        station = StationFactory()
        tag = IdTagFactory(owner=users[role])
        response = api[role].post("/ocpp/reservations", body(station, tag), format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        assert data["status"] == "accepted"
        assert data["reservation_id"] == data["id"]
        assert data["user"] == users[role].pk
        assert data["station_response"] == {"status": "Accepted"}

    def test_anonymous_gets_401(self, api, station_cmd):
        station, tag = StationFactory(), IdTagFactory()
        assert api["anon"].post("/ocpp/reservations", body(station, tag), format="json").status_code == 401
        assert station_cmd.sent == []

    def test_client_may_not_use_another_users_tag(self, api, station_cmd):
        station, tag = StationFactory(), IdTagFactory()
        response = api["client"].post("/ocpp/reservations", body(station, tag), format="json")
        assert response.status_code == 403
        assert station_cmd.sent == []
        assert not Reservation.objects.exists()

    def test_client_may_not_borrow_another_parent_tag(self, api, users, station_cmd):
        station = StationFactory()
        tag = IdTagFactory(owner=users["client"], parent_id_tag="MINE")
        response = api["client"].post(
            "/ocpp/reservations", body(station, tag, parent_id_tag="THEIRS"), format="json"
        )
        assert response.status_code == 403

    def test_operator_reserves_for_any_tag_and_the_owner_sees_it(self, api, users, station_cmd):
        station = StationFactory()
        tag = IdTagFactory(owner=users["client"])
        created = api["operator"].post("/ocpp/reservations", body(station, tag), format="json").json()
        assert created["user"] == users["client"].pk
        assert api["client"].get(f"/ocpp/reservations/{created['id']}").status_code == 200

    def test_reserve_now_carries_the_allocated_id_and_terms(self, api, station_cmd):
        station, tag = StationFactory(), IdTagFactory()
        expiry = "2031-05-06T07:08:09Z"
        created = (
            api["operator"]
            .post(
                "/ocpp/reservations",
                {**body(station, tag), "connector_id": 2, "expiry_date": expiry, "parent_id_tag": "GROUP"},
                format="json",
            )
            .json()
        )
        assert station_cmd.sent == [
            (
                station.station_id,
                "ReserveNow",
                {
                    "connectorId": 2,
                    "expiryDate": "2031-05-06T07:08:09.000Z",
                    "idTag": tag.id_tag,
                    "reservationId": created["reservation_id"],
                    "parentIdTag": "GROUP",
                },
            )
        ]
        assert created["expiry_date"] == "2031-05-06T07:08:09Z"
        assert created["parent_id_tag"] == "GROUP"

    def test_reservation_ids_are_unique(self, api, station_cmd):
        station, tag = StationFactory(), IdTagFactory()
        ids = {
            api["operator"]
            .post("/ocpp/reservations", body(station, tag), format="json")
            .json()["reservation_id"]
            for _ in range(3)
        }
        assert len(ids) == 3

    @pytest.mark.parametrize("answer", ["Occupied", "Faulted", "Rejected", "Unavailable"])
    def test_a_refusal_is_stored_as_rejected_with_the_stations_status(self, api, station_cmd, answer):
        station_cmd.answers["ReserveNow"] = {"status": answer}
        station, tag = StationFactory(), IdTagFactory()
        response = api["operator"].post("/ocpp/reservations", body(station, tag), format="json")
        assert response.status_code == 201
        assert (response.json()["status"], response.json()["station_status"]) == ("rejected", answer)
        assert Reservation.objects.get().status == "rejected"

    def test_not_connected_station_answers_409_and_leaves_the_reservation_rejected(self, api):
        station, tag = StationFactory(), IdTagFactory()
        response = api["operator"].post("/ocpp/reservations", body(station, tag), format="json")
        assert response.status_code == 409
        assert response.json()["error"] == "not_connected"
        stored = Reservation.objects.get()
        assert response.json()["reservation_id"] == stored.pk
        assert (stored.status, stored.station_status) == ("rejected", "not_connected")

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"expiry_date": "2001-01-01T00:00:00Z"}, "expiry_date"),
            ({"expiry_date": "soon"}, "expiry_date"),
            ({"connector_id": -1}, "connector_id"),
            ({"connector_id": "one"}, "connector_id"),
            ({"id_tag": "X" * 21}, "id_tag"),
            ({"parent_id_tag": "P" * 21}, "parent_id_tag"),
            ({"station_id": None}, "station_id"),
        ],
    )
    def test_bad_input_is_400_with_the_field(self, api, station_cmd, change, field):
        station, tag = StationFactory(), IdTagFactory()
        response = api["operator"].post("/ocpp/reservations", {**body(station, tag), **change}, format="json")
        assert response.status_code == 400
        assert field in response.json()["fields"]
        assert station_cmd.sent == []

    def test_unknown_station_is_404(self, api, station_cmd):
        tag = IdTagFactory()
        response = api["operator"].post(
            "/ocpp/reservations",
            {"station_id": "NOPE", "connector_id": 1, "id_tag": tag.id_tag, "expiry_date": future()},
            format="json",
        )
        assert response.status_code == 404


@pytest.mark.django_db
class TestRead:
    def test_roles_see_all_or_their_own(self, api, users):
        station = StationFactory()
        mine = Reservation.objects.create(
            station=station, connector_id=1, id_tag="A", expiry_date=datetime.now(UTC), user=users["client"]
        )
        Reservation.objects.create(station=station, connector_id=2, id_tag="B", expiry_date=datetime.now(UTC))
        assert api["anon"].get("/ocpp/reservations").status_code == 401
        client = api["client"].get("/ocpp/reservations").json()
        assert [r["id"] for r in client["results"]] == [mine.pk]
        for role in ["operator", "admin", "superadmin"]:
            assert api[role].get("/ocpp/reservations").json()["count"] == 2

    def test_client_gets_404_for_someone_elses_reservation(self, api):
        other = Reservation.objects.create(
            station=StationFactory(), connector_id=1, id_tag="B", expiry_date=datetime.now(UTC)
        )
        assert api["client"].get(f"/ocpp/reservations/{other.pk}").status_code == 404
        assert api["operator"].get(f"/ocpp/reservations/{other.pk}").status_code == 200
        assert api["operator"].get("/ocpp/reservations/999999").status_code == 404

    def test_list_is_newest_first_filtered_and_cheap(self, api, django_assert_max_num_queries):
        stations = [StationFactory(), StationFactory()]
        for i in range(6):
            Reservation.objects.create(
                station=stations[i % 2],
                connector_id=1,
                id_tag=f"T{i}",
                expiry_date=datetime.now(UTC),
                status="accepted" if i % 3 else "cancelled",
            )
        with django_assert_max_num_queries(4):
            data = api["operator"].get("/ocpp/reservations").json()
        assert [r["id_tag"] for r in data["results"]] == ["T5", "T4", "T3", "T2", "T1", "T0"]
        data = (
            api["operator"]
            .get("/ocpp/reservations", {"station_id": stations[0].station_id, "status": "accepted"})
            .json()
        )
        assert [r["id_tag"] for r in data["results"]] == ["T4", "T2"]
        assert api["operator"].get("/ocpp/reservations", {"status": "bogus"}).status_code == 400


@pytest.mark.django_db
class TestCancel:
    def make(self, user=None, status="accepted"):
        return Reservation.objects.create(
            station=StationFactory(),
            connector_id=1,
            id_tag="A",
            expiry_date=datetime.now(UTC) + timedelta(hours=1),
            status=status,
            user=user,
        )

    def test_accepted_cancel_marks_it_cancelled(self, api, station_cmd):
        stored = self.make()
        response = api["operator"].post(f"/ocpp/reservations/{stored.pk}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        assert station_cmd.sent[-1][1:] == ("CancelReservation", {"reservationId": stored.pk})

    def test_refused_cancel_keeps_the_reservation_and_says_so(self, api, station_cmd):
        station_cmd.answers["CancelReservation"] = {"status": "Rejected"}
        stored = self.make()
        response = api["operator"].post(f"/ocpp/reservations/{stored.pk}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "accepted"
        assert response.json()["station_response"] == {"status": "Rejected"}

    def test_client_cancels_its_own_only(self, api, users, station_cmd):
        own, other = self.make(user=users["client"]), self.make()
        assert api["client"].post(f"/ocpp/reservations/{other.pk}/cancel").status_code == 404
        assert api["client"].post(f"/ocpp/reservations/{own.pk}/cancel").status_code == 200
        assert api["anon"].post(f"/ocpp/reservations/{own.pk}/cancel").status_code == 401

    @pytest.mark.parametrize("status", ["cancelled", "used", "expired", "rejected"])
    def test_an_inactive_reservation_cannot_be_cancelled(self, api, station_cmd, status):
        stored = self.make(status=status)
        response = api["operator"].post(f"/ocpp/reservations/{stored.pk}/cancel")
        assert response.status_code == 409
        assert station_cmd.sent == []


# Through a real server and station -------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_reserve_cancel_and_use_with_a_real_station(server, live_token):
    token = await sync_to_async(live_token)()
    tag = await sync_to_async(IdTagFactory)()
    async with station_session(server, "CP-RES:1") as station:
        reserve = {"station_id": "CP-RES:1", "connector_id": 1, "id_tag": tag.id_tag, "expiry_date": future()}
        first = await http(server, "POST", "/ocpp/reservations", token, reserve)
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "accepted"
        sent = await station.wait_for("ReserveNow")
        assert sent["reservation_id"] == first.json()["reservation_id"]
        assert sent["id_tag"] == tag.id_tag

        cancelled = await http(server, "POST", f"/ocpp/reservations/{first.json()['id']}/cancel", token)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"

        station.answers["ReserveNow"] = {"status": "Occupied"}
        refused = await http(server, "POST", "/ocpp/reservations", token, reserve)
        assert (refused.json()["status"], refused.json()["station_status"]) == ("rejected", "Occupied")

        station.answers["ReserveNow"] = {"status": "Accepted"}
        second = (await http(server, "POST", "/ocpp/reservations", token, reserve)).json()
        await station.call(
            call.StartTransaction(
                connector_id=1,
                id_tag=tag.id_tag,
                meter_start=0,
                timestamp=now_iso(),
                reservation_id=second["reservation_id"],
            )
        )
        used = (await http(server, "GET", f"/ocpp/reservations/{second['id']}", token)).json()
    assert used["status"] == "used"
    assert used["transaction_id"] is not None
