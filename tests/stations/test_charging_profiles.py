"""Charging profiles API: stored profiles, installing them, what stations hold."""

import pytest
from asgiref.sync import sync_to_async

from ocpp_gateway.writer import Batch
from stations.commands_state import command_result_apply
from stations.models import ChargingProfile, InstalledChargingProfile
from tests.factories import StationFactory
from tests.live import http
from tests.station import station_session

SCHEDULE = {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}


def profile_body(**extra):
    return {
        "charging_profile_id": 10,
        "description": "Depot night limit",
        "purpose": "TxDefaultProfile",
        "stack_level": 1,
        "kind": "Absolute",
        "valid_from": "2030-01-01T00:00:00Z",
        "schedule": {**SCHEDULE, "startSchedule": "2030-01-01T00:00:00Z"},
        **extra,
    }


def stored_profile(**extra) -> ChargingProfile:
    values = {
        "charging_profile_id": 10,
        "purpose": "TxDefaultProfile",
        "stack_level": 1,
        "kind": "Relative",
        "schedule": SCHEDULE,
    }
    return ChargingProfile.objects.create(**{**values, **extra})


@pytest.mark.django_db
class TestStoredProfiles:
    @pytest.mark.parametrize(
        ("role", "expected"),
        [("anon", 401), ("client", 403), ("operator", 201), ("admin", 201), ("superadmin", 201)],
    )
    def test_create_is_operator_and_up(self, api, role, expected):
        response = api[role].post("/ocpp/charging_profiles", profile_body(), format="json")
        assert response.status_code == expected

    @pytest.mark.parametrize(
        ("role", "expected"),
        [("anon", 401), ("client", 403), ("operator", 200), ("admin", 200), ("superadmin", 200)],
    )
    def test_read_update_delete_are_operator_and_up(self, api, role, expected):
        profile = stored_profile()
        url = f"/ocpp/charging_profiles/{profile.pk}"
        assert api[role].get(url).status_code == expected
        assert api[role].get("/ocpp/charging_profiles").status_code == expected
        assert api[role].patch(url, {"description": "x"}, format="json").status_code == expected
        assert api[role].delete(url).status_code == (204 if expected == 200 else expected)

    def test_created_profile_reads_back(self, api):
        data = api["operator"].post("/ocpp/charging_profiles", profile_body(), format="json").json()
        assert data["charging_profile_id"] == 10
        assert data["recurrency_kind"] is None
        assert data["valid_to"] is None
        assert data["schedule"] == profile_body()["schedule"]
        assert api["operator"].get(f"/ocpp/charging_profiles/{data['id']}").json() == data

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"schedule": {"chargingRateUnit": "V", "chargingSchedulePeriod": []}}, "schedule"),
            ({"schedule": {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}]}}, "schedule"),
            ({"schedule": "fast"}, "schedule"),
            (
                {
                    "schedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 8}],
                    }
                },
                "schedule",
            ),
            (
                {
                    "schedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 8},
                            {"startPeriod": 0, "limit": 6},
                        ],
                    }
                },
                "schedule",
            ),
            ({"schedule": {**SCHEDULE, "surprise": 1}}, "schedule"),
            ({"kind": "Recurring"}, "recurrency_kind"),
            ({"recurrency_kind": "Daily"}, "recurrency_kind"),
            ({"recurrency_kind": "Hourly"}, "recurrency_kind"),
            ({"purpose": "MaxProfile"}, "purpose"),
            ({"stack_level": -1}, "stack_level"),
            ({"valid_to": "2029-01-01T00:00:00Z"}, "valid_to"),
        ],
    )
    def test_invalid_profiles_are_400_with_the_field(self, api, change, field):
        response = api["operator"].post("/ocpp/charging_profiles", profile_body(**change), format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["fields"]

    def test_recurring_with_a_recurrency_kind_is_valid(self, api):
        body = profile_body(kind="Recurring", recurrency_kind="Daily")
        response = api["operator"].post("/ocpp/charging_profiles", body, format="json")
        assert response.status_code == 201
        assert response.json()["recurrency_kind"] == "Daily"

    def test_the_ocpp_id_is_unique(self, api):
        stored_profile()
        response = api["operator"].post("/ocpp/charging_profiles", profile_body(), format="json")
        assert response.status_code == 400
        assert "charging_profile_id" in response.json()["fields"]

    def test_patch_is_validated_against_the_whole_profile(self, api):
        profile = stored_profile()
        url = f"/ocpp/charging_profiles/{profile.pk}"
        assert api["operator"].patch(url, {"kind": "Recurring"}, format="json").status_code == 400
        response = api["operator"].patch(
            url, {"kind": "Recurring", "recurrency_kind": "Weekly"}, format="json"
        )
        assert response.status_code == 200
        profile.refresh_from_db()
        assert (profile.kind, profile.recurrency_kind) == ("Recurring", "Weekly")
        response = api["operator"].patch(url, {"kind": "Relative", "recurrency_kind": None}, format="json")
        assert response.status_code == 200
        assert response.json()["recurrency_kind"] is None

    def test_list_is_newest_first_and_cheap(self, api, django_assert_max_num_queries):
        for i in range(5):
            stored_profile(charging_profile_id=i)
        with django_assert_max_num_queries(3):
            data = api["operator"].get("/ocpp/charging_profiles").json()
        assert [p["charging_profile_id"] for p in data["results"]] == [4, 3, 2, 1, 0]

    def test_unknown_profile_is_404(self, api):
        assert api["operator"].get("/ocpp/charging_profiles/12345").status_code == 404


@pytest.mark.django_db
class TestInstall:
    def test_install_sends_the_stored_profile_and_records_it(self, api, station_cmd):
        station = StationFactory()
        stored_profile(valid_to="2031-01-01T00:00:00Z")
        response = api["operator"].post(
            f"/ocpp/stations/{station.station_id}/charging_profiles",
            {"charging_profile_id": 10, "connector_id": 1},
            format="json",
        )
        assert response.status_code == 200, response.json()
        cs = {
            "chargingProfileId": 10,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "validTo": "2031-01-01T00:00:00.000Z",
            "chargingSchedule": SCHEDULE,
        }
        assert station_cmd.sent == [("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": cs})]
        assert response.json()["status"] == "Accepted"
        assert response.json()["installed"]["profile"] == cs
        listed = api["operator"].get(f"/ocpp/stations/{station.station_id}/charging_profiles").json()
        assert [(p["connector_id"], p["charging_profile_id"]) for p in listed["results"]] == [(1, 10)]

    def test_a_tx_profile_carries_its_transaction(self, api, station_cmd):
        station = StationFactory()
        stored_profile(purpose="TxProfile")
        api["operator"].post(
            f"/ocpp/stations/{station.station_id}/charging_profiles",
            {"charging_profile_id": 10, "connector_id": 2, "transaction_id": 77},
            format="json",
        )
        assert station_cmd.sent[0][1]["csChargingProfiles"]["transactionId"] == 77

    def test_refused_install_records_nothing(self, api, station_cmd):
        station_cmd.answers["SetChargingProfile"] = {"status": "Rejected"}
        station = StationFactory()
        stored_profile()
        response = api["operator"].post(
            f"/ocpp/stations/{station.station_id}/charging_profiles",
            {"charging_profile_id": 10, "connector_id": 1},
            format="json",
        )
        assert response.json() == {
            "status": "Rejected",
            "station_response": {"status": "Rejected"},
            "installed": None,
        }
        assert not InstalledChargingProfile.objects.exists()

    def test_charge_point_max_profile_only_on_connector_zero(self, api, station_cmd):
        station = StationFactory()
        stored_profile(purpose="ChargePointMaxProfile")
        url = f"/ocpp/stations/{station.station_id}/charging_profiles"
        response = api["operator"].post(url, {"charging_profile_id": 10, "connector_id": 1}, format="json")
        assert response.status_code == 400
        assert "connector_id" in response.json()["fields"]
        assert station_cmd.sent == []
        response = api["operator"].post(url, {"charging_profile_id": 10, "connector_id": 0}, format="json")
        assert response.status_code == 200

    def test_unknown_profile_is_400_and_unknown_station_404(self, api, station_cmd):
        station = StationFactory()
        stored_profile()
        response = api["operator"].post(
            f"/ocpp/stations/{station.station_id}/charging_profiles",
            {"charging_profile_id": 99, "connector_id": 1},
            format="json",
        )
        assert response.status_code == 400
        assert "charging_profile_id" in response.json()["fields"]
        response = api["operator"].post(
            "/ocpp/stations/NOPE/charging_profiles",
            {"charging_profile_id": 10, "connector_id": 1},
            format="json",
        )
        assert response.status_code == 404
        assert api["operator"].get("/ocpp/stations/NOPE/charging_profiles").status_code == 404
        assert station_cmd.sent == []

    @pytest.mark.parametrize(
        ("role", "expected"),
        [("anon", 401), ("client", 403), ("operator", 200), ("admin", 200), ("superadmin", 200)],
    )
    def test_install_and_listing_are_operator_and_up(self, api, station_cmd, role, expected):
        station = StationFactory()
        stored_profile()
        url = f"/ocpp/stations/{station.station_id}/charging_profiles"
        assert api[role].get(url).status_code == expected
        response = api[role].post(url, {"charging_profile_id": 10, "connector_id": 1}, format="json")
        assert response.status_code == expected

    def test_installed_listing_is_filtered_and_cheap(self, api, station_cmd, django_assert_max_num_queries):
        station = StationFactory(station_id="CP:01#A+B.2")
        for i in range(4):
            command_result_apply(
                batch=Batch(),  # (set profiles are recorded at once, not at the commit's flush)
                station_pk=station.pk,
                action="SetChargingProfile",
                request={
                    "connectorId": i % 2,
                    "csChargingProfiles": {
                        "chargingProfileId": i,
                        "stackLevel": i,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Relative",
                        "chargingSchedule": SCHEDULE,
                    },
                },
                response={"status": "Accepted"},
            )
        url = "/ocpp/stations/CP%3A01%23A%2BB.2/charging_profiles"
        with django_assert_max_num_queries(4):
            data = api["operator"].get(url).json()
        assert [p["charging_profile_id"] for p in data["results"]] == [3, 2, 1, 0]
        data = api["operator"].get(url, {"connector_id": 1}).json()
        assert [p["charging_profile_id"] for p in data["results"]] == [3, 1]
        assert api["operator"].get(url, {"connector_id": "x"}).status_code == 400


# Through a real server and station -------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_install_then_clear_through_send_command_with_a_real_station(server, live_token):
    token = await sync_to_async(live_token)()
    await sync_to_async(stored_profile)()
    path = "/ocpp/stations/CP-PROF/charging_profiles"
    async with station_session(server, "CP-PROF") as station:
        installed = await http(server, "POST", path, token, {"charging_profile_id": 10, "connector_id": 1})
        assert installed.status_code == 200, installed.text
        sent = await station.wait_for("SetChargingProfile")
        assert sent["connector_id"] == 1
        assert sent["cs_charging_profiles"]["charging_profile_id"] == 10

        by_hand = {
            "connectorId": 2,
            "csChargingProfiles": {
                "chargingProfileId": 20,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": SCHEDULE,
            },
        }
        command = {"station_id": "CP-PROF", "command": "SetChargingProfile", "payload": by_hand}
        assert (await http(server, "POST", "/ocpp/send_command", token, command)).status_code == 200
        listed = (await http(server, "GET", path, token)).json()
        assert sorted((p["connector_id"], p["charging_profile_id"]) for p in listed["results"]) == [
            (1, 10),
            (2, 20),
        ]

        clear = {"station_id": "CP-PROF", "command": "ClearChargingProfile", "payload": {"connectorId": 1}}
        assert (await http(server, "POST", "/ocpp/send_command", token, clear)).status_code == 200
        listed = (await http(server, "GET", path, token)).json()
    assert [(p["connector_id"], p["charging_profile_id"]) for p in listed["results"]] == [(2, 20)]
