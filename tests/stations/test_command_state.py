"""The command-result hook: stored state follows what stations accepted."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.transactions import transaction_start
from ocpp_gateway.writer import Batch
from stations.commands_state import command_result_apply, command_result_recorded, station_availability_get
from stations.local_lists import local_list_default_update_type
from stations.models import AvailabilityRequest, InstalledChargingProfile, LocalAuthList, Reservation, Station
from stations.reservations import reservation_use, reservations_expire
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def applied(station_pk, action, request, response):
    """As the gateway applies an answer: in a commit of the writer's."""
    batch = Batch()
    command_result_apply(
        batch=batch, station_pk=station_pk, action=action, request=request, response=response
    )
    batch.flush()


def apply(station, action, request, response):
    applied(station.pk, action, request, response)
    station.refresh_from_db()


# GetConfiguration / ChangeConfiguration ------------------------------------------


def test_full_get_configuration_replaces_the_known_configuration():
    station = StationFactory(configuration={"Stale": {"value": "1", "readonly": False}})
    apply(
        station,
        "GetConfiguration",
        {},
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                {"key": "NoValue", "readonly": True},
            ]
        },
    )
    assert station.configuration == {
        "HeartbeatInterval": {"value": "300", "readonly": False},
        "NumberOfConnectors": {"value": "2", "readonly": True},
        "NoValue": {"value": None, "readonly": True},
    }


def test_the_same_configuration_again_writes_no_history(django_assert_num_queries):
    configuration = {"HeartbeatInterval": {"value": "300", "readonly": False}}
    station = StationFactory(configuration=configuration)
    answer = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    history = station.history.count()

    with django_assert_num_queries(1):  # the station read; no update, no history row
        applied(station.pk, "GetConfiguration", {}, answer)

    assert station.history.count() == history


def test_configuration_answers_of_one_commit_are_read_together(django_assert_num_queries):
    stations = [
        StationFactory(configuration={"HeartbeatInterval": {"value": "300", "readonly": False}})
        for _ in range(5)
    ]
    answer = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    changed = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}
    batch = Batch()
    for station in stations:
        command_result_apply(
            batch=batch,
            station_pk=station.pk,
            action="GetConfiguration",
            request={},
            response=changed if station is stations[0] else answer,
        )
    history = stations[0].history.count()
    with django_assert_num_queries(3):  # one locked read of all, the one change saved with its history row
        batch.flush()
    stations[0].refresh_from_db()
    assert stations[0].configuration == {"HeartbeatInterval": {"value": "60", "readonly": False}}
    assert stations[0].history.count() == history + 1


def test_answers_for_one_station_in_one_commit_apply_in_order():
    station = StationFactory(configuration={"A": {"value": "1", "readonly": False}})
    batch = Batch()
    for request, response in [
        ({}, {"configurationKey": [{"key": "B", "value": "2"}]}),
        ({"key": "B", "value": "3"}, {"status": "Accepted"}),
    ]:
        action = "GetConfiguration" if "value" not in request else "ChangeConfiguration"
        command_result_apply(
            batch=batch, station_pk=station.pk, action=action, request=request, response=response
        )
    batch.flush()
    station.refresh_from_db()
    assert station.configuration == {"B": {"value": "3", "readonly": False}}


def test_get_configuration_for_keys_updates_those_and_drops_unknown_ones():
    station = StationFactory(
        configuration={
            "HeartbeatInterval": {"value": "300", "readonly": False},
            "Other": {"value": "x", "readonly": True},
            "Gone": {"value": "y", "readonly": False},
        }
    )
    apply(
        station,
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "Gone"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
            "unknownKey": ["Gone"],
        },
    )
    assert station.configuration == {
        "HeartbeatInterval": {"value": "60", "readonly": False},
        "Other": {"value": "x", "readonly": True},
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Accepted", {"value": "120", "readonly": False}),
        ("RebootRequired", {"value": "120", "readonly": False, "reboot_required": True}),
        ("Rejected", {"value": "300", "readonly": False}),
    ],
)
def test_change_configuration_applies_the_value_the_station_took(status, expected):
    station = StationFactory(configuration={"HeartbeatInterval": {"value": "300", "readonly": False}})
    apply(station, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, {"status": status})
    assert station.configuration["HeartbeatInterval"] == expected


def test_change_configuration_not_supported_forgets_the_key():
    station = StationFactory(configuration={"Custom": {"value": "1", "readonly": False}})
    apply(station, "ChangeConfiguration", {"key": "Custom", "value": "2"}, {"status": "NotSupported"})
    assert station.configuration == {}


# ChangeAvailability -----------------------------------------------------------------


def test_accepted_and_scheduled_availability_changes_are_noted():
    station = StationFactory()
    apply(station, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"})
    apply(station, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Scheduled"})
    apply(station, "ChangeAvailability", {"connectorId": 1, "type": "Operative"}, {"status": "Rejected"})
    noted = station_availability_get(station_pk=station.pk)
    assert {k: (v["type"], v["status"]) for k, v in noted.items()} == {
        1: ("Inoperative", "Accepted"),
        2: ("Inoperative", "Scheduled"),
    }


def test_availability_of_connector_zero_overrides_the_connectors():
    station = StationFactory()
    apply(station, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"})
    apply(station, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, {"status": "Accepted"})
    assert list(AvailabilityRequest.objects.values_list("connector_id", "type")) == [(0, "Operative")]


# Reservations --------------------------------------------------------------------------


def reservation(station, **kwargs):
    values = {"connector_id": 1, "id_tag": "TAG1", "expiry_date": NOW + timedelta(hours=1)}
    return Reservation.objects.create(station=station, **{**values, **kwargs})


def test_reserve_now_sent_by_hand_replaces_a_stored_reservation_with_its_terms():
    station = StationFactory()
    stored = reservation(station, status=Reservation.Status.CANCELLED)
    apply(
        station,
        "ReserveNow",
        {
            "connectorId": 2,
            "expiryDate": "2030-02-01T00:00:00Z",
            "idTag": "OTHER",
            "reservationId": stored.pk,
            "parentIdTag": "GROUP",
        },
        {"status": "Accepted"},
    )
    stored.refresh_from_db()
    assert (stored.status, stored.connector_id, stored.id_tag, stored.parent_id_tag) == (
        "accepted",
        2,
        "OTHER",
        "GROUP",
    )
    assert stored.expiry_date == datetime(2030, 2, 1, tzinfo=UTC)


def test_refused_reserve_now_settles_only_a_waiting_reservation():
    station = StationFactory()
    waiting = reservation(station)
    held = reservation(station, status=Reservation.Status.ACCEPTED)
    for stored in (waiting, held):
        apply(
            station,
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2030-02-01T00:00:00Z",
                "idTag": "X",
                "reservationId": stored.pk,
            },
            {"status": "Occupied"},
        )
    waiting.refresh_from_db()
    held.refresh_from_db()
    assert (waiting.status, waiting.station_status) == ("rejected", "Occupied")
    assert held.status == "accepted"


def test_reserve_now_for_another_stations_reservation_id_changes_nothing():
    stored = reservation(StationFactory())
    other = StationFactory()
    apply(
        other,
        "ReserveNow",
        {"connectorId": 1, "expiryDate": "2030-02-01T00:00:00Z", "idTag": "X", "reservationId": stored.pk},
        {"status": "Accepted"},
    )
    stored.refresh_from_db()
    assert stored.status == "requested"


@pytest.mark.parametrize(("answer", "expected"), [("Accepted", "cancelled"), ("Rejected", "accepted")])
def test_cancel_reservation_cancels_when_the_station_accepts(answer, expected):
    station = StationFactory()
    stored = reservation(station, status=Reservation.Status.ACCEPTED)
    apply(station, "CancelReservation", {"reservationId": stored.pk}, {"status": answer})
    stored.refresh_from_db()
    assert stored.status == expected


def test_start_transaction_with_reservation_id_marks_it_used():
    station = StationFactory()
    stored = reservation(station, status=Reservation.Status.ACCEPTED)
    result = transaction_start(
        station_pk=station.pk,
        connector_id=1,
        id_tag="TAG1",
        meter_start=0,
        timestamp=NOW,
        reservation_id=stored.pk,
        now=NOW,
    )
    stored.refresh_from_db()
    assert (stored.status, stored.transaction_id) == ("used", result.transaction_id)


def test_reservation_use_ignores_unknown_ids_and_other_stations():
    stored = reservation(StationFactory(), status=Reservation.Status.ACCEPTED)
    reservation_use(station_pk=StationFactory().pk, reservation_id=stored.pk, transaction_id=5)
    reservation_use(station_pk=stored.station_id, reservation_id=stored.pk + 1000, transaction_id=5)
    stored.refresh_from_db()
    assert stored.status == "accepted"


def test_active_reservations_past_expiry_expire():
    station = StationFactory()
    past = reservation(station, status=Reservation.Status.ACCEPTED, expiry_date=NOW - timedelta(seconds=1))
    waiting = reservation(station, expiry_date=NOW - timedelta(minutes=5))
    future = reservation(station, status=Reservation.Status.ACCEPTED)
    used = reservation(station, status=Reservation.Status.USED, expiry_date=NOW - timedelta(hours=1))
    assert reservations_expire(now=NOW) == 2
    statuses = {r.pk: r.status for r in Reservation.objects.all()}
    assert statuses == {past.pk: "expired", waiting.pk: "expired", future.pk: "accepted", used.pk: "used"}


# Charging profiles -------------------------------------------------------------------


def cs_profile(profile_id, purpose="TxDefaultProfile", stack_level=0):
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
        },
    }


def set_profile(station, connector_id, profile, status="Accepted"):
    apply(
        station,
        "SetChargingProfile",
        {"connectorId": connector_id, "csChargingProfiles": profile},
        {"status": status},
    )


def installed(station):
    return sorted(
        InstalledChargingProfile.objects.filter(station=station).values_list(
            "connector_id", "charging_profile_id"
        )
    )


def test_accepted_set_charging_profile_is_recorded_with_the_full_profile():
    station = StationFactory()
    set_profile(station, 1, cs_profile(5))
    set_profile(station, 2, cs_profile(6), status="Rejected")
    row = InstalledChargingProfile.objects.get(station=station)
    assert (row.connector_id, row.charging_profile_id, row.purpose, row.stack_level) == (
        1,
        5,
        "TxDefaultProfile",
        0,
    )
    assert row.profile == cs_profile(5)


def test_a_profile_replaces_one_with_the_same_id_or_stack_level_and_purpose():
    station = StationFactory()
    set_profile(station, 1, cs_profile(5))
    set_profile(station, 1, cs_profile(7, stack_level=1))
    set_profile(station, 2, cs_profile(5))  # same id: moves to connector 2
    set_profile(station, 1, cs_profile(8, stack_level=1))  # same stack level and purpose on 1
    set_profile(station, 1, cs_profile(9, purpose="TxProfile", stack_level=1))  # other purpose: kept apart
    assert installed(station) == [(1, 8), (1, 9), (2, 5)]


@pytest.mark.parametrize(
    ("request_", "left"),
    [
        ({"id": 2}, [(0, 1), (1, 3), (2, 4)]),
        ({"id": 2, "connectorId": 0}, [(0, 1), (1, 3), (2, 4)]),  # id wins over the other fields
        ({"connectorId": 1}, [(0, 1), (2, 4)]),
        ({"connectorId": 0}, [(1, 2), (1, 3), (2, 4)]),
        ({"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1}, [(0, 1), (1, 2), (2, 4)]),
        ({"chargingProfilePurpose": "TxProfile"}, [(0, 1), (1, 2), (1, 3)]),
        ({}, []),
    ],
)
def test_clear_charging_profile_removes_what_its_filters_match(request_, left):
    station = StationFactory()
    set_profile(station, 0, cs_profile(1, purpose="ChargePointMaxProfile"))
    set_profile(station, 1, cs_profile(2))
    set_profile(station, 1, cs_profile(3, stack_level=1))
    set_profile(station, 2, cs_profile(4, purpose="TxProfile"))
    apply(station, "ClearChargingProfile", request_, {"status": "Accepted"})
    assert installed(station) == left


def test_clear_answered_unknown_also_drops_matching_records():
    station = StationFactory()
    set_profile(station, 1, cs_profile(2))
    apply(station, "ClearChargingProfile", {"id": 2}, {"status": "Unknown"})
    assert installed(station) == []


# Local list ---------------------------------------------------------------------------


def test_send_local_list_by_hand_records_version_and_becomes_the_desired_list():
    station = StationFactory()
    apply(
        station,
        "SendLocalList",
        {
            "listVersion": 4,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
        },
        {"status": "Accepted"},
    )
    local_list = LocalAuthList.objects.get(station=station)
    assert (local_list.version, local_list.accepted_entries) == (4, {"A": {"status": "Accepted"}})
    assert local_list.entries == {"A": {"status": "Accepted"}}
    assert local_list_default_update_type(local_list=local_list) == "Differential"


def test_accepted_differential_updates_the_accepted_list_and_keeps_the_desired_one():
    station = StationFactory()
    LocalAuthList.objects.create(
        station=station,
        entries={"A": {"status": "Accepted"}},
        version=2,
        accepted_entries={"A": {"status": "Accepted"}, "B": {"status": "Accepted"}},
    )
    apply(
        station,
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Differential",
            "localAuthorizationList": [{"idTag": "B"}, {"idTag": "C", "idTagInfo": {"status": "Blocked"}}],
        },
        {"status": "Accepted"},
    )
    local_list = LocalAuthList.objects.get(station=station)
    assert local_list.version == 3
    assert local_list.accepted_entries == {"A": {"status": "Accepted"}, "C": {"status": "Blocked"}}
    assert local_list.entries == {"A": {"status": "Accepted"}}


@pytest.mark.parametrize("answer", ["Failed", "VersionMismatch", "NotSupported"])
def test_refused_send_local_list_keeps_the_old_version(answer):
    station = StationFactory()
    LocalAuthList.objects.create(station=station, version=2, accepted_entries={})
    apply(
        station,
        "SendLocalList",
        {"listVersion": 3, "updateType": "Full", "localAuthorizationList": []},
        {"status": answer},
    )
    assert LocalAuthList.objects.get(station=station).version == 2


def test_a_reported_list_version_we_did_not_send_forces_a_full_sync():
    station = StationFactory()
    LocalAuthList.objects.create(station=station, version=2, accepted_entries={})
    apply(station, "GetLocalListVersion", {}, {"listVersion": 2})
    assert (
        local_list_default_update_type(local_list=LocalAuthList.objects.get(station=station))
        == "Differential"
    )
    apply(station, "GetLocalListVersion", {}, {"listVersion": 0})
    assert local_list_default_update_type(local_list=LocalAuthList.objects.get(station=station)) == "Full"


# Everything else -----------------------------------------------------------------------


def test_other_commands_and_odd_answers_leave_the_station_alone():
    station = StationFactory(configuration={"K": {"value": "1", "readonly": False}})
    apply(station, "Reset", {"type": "Soft"}, {"status": "Accepted"})
    apply(station, "GetConfiguration", {}, None)
    assert Station.objects.get(pk=station.pk).configuration == {"K": {"value": "1", "readonly": False}}


@pytest.mark.parametrize(
    ("action", "recorded"),
    [("GetConfiguration", True), ("ChangeConfiguration", True), ("ReserveNow", True), ("Reset", False)],
)
def test_answers_that_change_what_we_keep_are_recorded_before_the_caller_hears(action, recorded):
    assert command_result_recorded(action) is recorded
