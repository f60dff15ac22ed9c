"""Local authorisation list API: desired entries, SendLocalList Full/Differential, versions."""

import pytest
from asgiref.sync import sync_to_async

from evpower.models import Role
from stations.models import LocalAuthList, Station
from tests.factories import StationFactory
from tests.live import http
from tests.station import station_session


def entries(*pairs):
    return {"entries": [{"id_tag": tag, "idTagInfo": info} for tag, info in pairs]}


A = ("A", {"status": "Accepted"})
B = ("B", {"status": "Blocked", "expiryDate": "2031-01-01T00:00:00Z", "parentIdTag": "GROUP"})


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize(
        ("role", "read", "write"),
        [
            ("anon", 401, 401),
            ("client", 403, 403),
            ("operator", 200, 403),
            ("admin", 200, 200),
            ("superadmin", 200, 200),
        ],
    )
    def test_operators_read_admins_write_and_sync(self, api, station_cmd, role, read, write):
        station = StationFactory()
        url = f"/ocpp/stations/{station.station_id}/local_list"
        assert api[role].get(url).status_code == read
        assert api[role].put(url, entries(A), format="json").status_code == write
        assert api[role].post(f"{url}/sync", {}, format="json").status_code == write
        assert len(station_cmd.sent) == (1 if write == 200 else 0)

    def test_unknown_station_is_404(self, api, station_cmd):
        assert api["admin"].get("/ocpp/stations/NOPE/local_list").status_code == 404
        assert (
            api["admin"].put("/ocpp/stations/NOPE/local_list", entries(A), format="json").status_code == 404
        )
        assert api["admin"].post("/ocpp/stations/NOPE/local_list/sync", {}, format="json").status_code == 404


@pytest.mark.django_db
class TestDesiredList:
    def test_a_new_station_has_an_empty_list_at_version_zero(self, api):
        station = StationFactory()
        data = api["operator"].get(f"/ocpp/stations/{station.station_id}/local_list").json()
        assert (data["version"], data["entries"], data["pending"], data["in_sync"]) == (0, [], [], False)

    def test_put_replaces_the_entries_and_shows_them_pending(self, api, station_cmd):
        station = StationFactory()
        url = f"/ocpp/stations/{station.station_id}/local_list"
        api["admin"].put(url, entries(("OLD", {"status": "Accepted"})), format="json")
        data = api["admin"].put(url, entries(B, A), format="json").json()
        assert data["entries"] == [
            {"id_tag": "A", "idTagInfo": {"status": "Accepted"}},
            {
                "id_tag": "B",
                "idTagInfo": {
                    "status": "Blocked",
                    "expiryDate": "2031-01-01T00:00:00.000Z",
                    "parentIdTag": "GROUP",
                },
            },
        ]
        assert [p["id_tag"] for p in data["pending"]] == ["A", "B"]
        assert station_cmd.sent == []  # nothing goes out before a sync

    @pytest.mark.parametrize(
        "bad",
        [
            entries(("X" * 21, {"status": "Accepted"})),
            entries(("A", {"status": "Maybe"})),
            entries(("A", {})),
            entries(("A", {"status": "Accepted", "expiryDate": "tomorrow"})),
            entries(("A", {"status": "Accepted", "parentIdTag": "P" * 21})),
            entries(("A", {"status": "Accepted"}), ("a", {"status": "Blocked"})),
            {"entries": "all"},
            {},
        ],
    )
    def test_invalid_entries_are_400(self, api, bad):
        station = StationFactory()
        response = api["admin"].put(f"/ocpp/stations/{station.station_id}/local_list", bad, format="json")
        assert response.status_code == 400
        assert "entries" in response.json()["fields"]
        assert not LocalAuthList.objects.exists()

    def test_read_is_cheap(self, api, django_assert_max_num_queries):
        station = StationFactory()
        LocalAuthList.objects.create(station=station, entries=dict([A, B]))
        with django_assert_max_num_queries(4):
            assert api["operator"].get(f"/ocpp/stations/{station.station_id}/local_list").status_code == 200


@pytest.mark.django_db
class TestSync:
    def sync(self, api, station, **body):
        return api["admin"].post(f"/ocpp/stations/{station.station_id}/local_list/sync", body, format="json")

    def test_first_sync_is_full_and_then_differential(self, api, station_cmd):
        station = StationFactory()
        url = f"/ocpp/stations/{station.station_id}/local_list"
        api["admin"].put(url, entries(A, B), format="json")
        first = self.sync(api, station).json()
        assert (first["status"], first["update_type"], first["list_version"]) == ("Accepted", "Full", 1)
        assert first["local_list"]["version"] == 1
        assert first["local_list"]["in_sync"] is True
        full = station_cmd.sent[-1][1]
        assert full["updateType"] == "Full"
        assert [e["idTag"] for e in full["localAuthorizationList"]] == ["A", "B"]

        api["admin"].put(
            url, entries(("A", {"status": "Blocked"}), ("C", {"status": "Accepted"})), format="json"
        )
        second = self.sync(api, station).json()
        assert (second["update_type"], second["list_version"], second["local_list"]["version"]) == (
            "Differential",
            2,
            2,
        )
        assert station_cmd.sent[-1][1] == {
            "listVersion": 2,
            "localAuthorizationList": [
                {"idTag": "A", "idTagInfo": {"status": "Blocked"}},
                {"idTag": "C", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "B"},
            ],
            "updateType": "Differential",
        }
        assert second["local_list"]["pending"] == []

    def test_full_can_be_asked_for(self, api, station_cmd):
        station = StationFactory()
        LocalAuthList.objects.create(
            station=station, entries=dict([A]), version=3, accepted_entries=dict([A]), reported_version=3
        )
        data = self.sync(api, station, update_type="Full").json()
        assert (data["update_type"], data["list_version"]) == ("Full", 4)
        assert station_cmd.sent[-1][1]["localAuthorizationList"] == [
            {"idTag": "A", "idTagInfo": {"status": "Accepted"}}
        ]

    @pytest.mark.parametrize("answer", ["VersionMismatch", "Failed", "NotSupported"])
    def test_a_refused_sync_keeps_the_old_version_and_answers_the_status(self, api, station_cmd, answer):
        station_cmd.answers["SendLocalList"] = {"status": answer}
        station = StationFactory()
        LocalAuthList.objects.create(
            station=station, entries=dict([A, B]), version=3, accepted_entries=dict([A])
        )
        response = self.sync(api, station)
        assert response.status_code == 200
        data = response.json()
        assert (data["status"], data["list_version"], data["local_list"]["version"]) == (answer, 4, 3)
        assert [p["id_tag"] for p in data["local_list"]["pending"]] == ["B"]

    def test_bad_update_type_is_400(self, api, station_cmd):
        response = self.sync(api, StationFactory(), update_type="Partial")
        assert response.status_code == 400
        assert "update_type" in response.json()["fields"]
        assert station_cmd.sent == []


# Through a real server and station -------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_full_then_differential_sync_with_a_real_station(server, live_token):
    operator = await sync_to_async(live_token)(Role.OPERATOR)
    admin = await sync_to_async(live_token)(Role.ADMIN)
    url = "/ocpp/stations/CP-LL/local_list"
    async with station_session(server, "CP-LL") as station:
        assert (await http(server, "PUT", url, admin, entries(A, B))).status_code == 200
        first = await http(server, "POST", f"{url}/sync", admin, {})
        assert first.status_code == 200, first.text
        assert (first.json()["update_type"], first.json()["local_list"]["version"]) == ("Full", 1)
        full = await station.wait_for("SendLocalList")
        assert (full["list_version"], full["update_type"], len(full["local_authorization_list"])) == (
            1,
            "Full",
            2,
        )

        station.received.clear()
        await http(server, "PUT", url, admin, entries(A))
        second = (await http(server, "POST", f"{url}/sync", admin, {})).json()
        diff = await station.wait_for("SendLocalList")
        assert (diff["list_version"], diff["update_type"]) == (2, "Differential")
        assert diff["local_authorization_list"] == [{"id_tag": "B"}]
        assert second["local_list"]["version"] == 2

        # Sent by hand and accepted: the version is recorded too.
        by_hand = {"listVersion": 7, "updateType": "Differential", "localAuthorizationList": []}
        command = {"station_id": "CP-LL", "command": "SendLocalList", "payload": by_hand}
        assert (await http(server, "POST", "/ocpp/send_command", operator, command)).status_code == 200
        listed = (await http(server, "GET", url, operator)).json()
    assert listed["version"] == 7


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_get_configuration_through_send_command_updates_the_station(server, live_token):
    operator = await sync_to_async(live_token)(Role.OPERATOR)
    async with station_session(server, "CP-CONF") as station:
        await station.wait_for("GetConfiguration")  # the one asked after boot
        station.answers["GetConfiguration"] = {
            "configurationKey": [{"key": "MeterValueSampleInterval", "readonly": False, "value": "15"}]
        }
        command = {"station_id": "CP-CONF", "command": "GetConfiguration", "payload": {}}
        response = await http(server, "POST", "/ocpp/send_command", operator, command)
        assert response.status_code == 200, response.text
        change = {
            "station_id": "CP-CONF",
            "command": "ChangeConfiguration",
            "payload": {"key": "MeterValueSampleInterval", "value": "30"},
        }
        assert (await http(server, "POST", "/ocpp/send_command", operator, change)).status_code == 200
    station_row = await Station.objects.aget(station_id="CP-CONF")
    assert station_row.configuration == {"MeterValueSampleInterval": {"value": "30", "readonly": False}}
