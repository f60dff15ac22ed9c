"""BootNotifications of one commit (a reconnect storm) are written together,
each answered by its own station's registration state."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from ocpp_gateway.writer import Batch
from stations.commands_state import command_result_apply
from stations.models import RegistrationStatus, Station
from stations.reports import station_boot
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def info(n: int) -> dict:
    return {"chargePointVendor": f"V{n}", "chargePointModel": f"M{n}", "firmwareVersion": f"1.{n}"}


def test_boots_of_one_commit_are_answered_each_by_its_registration_state():
    states = [RegistrationStatus.ACCEPTED, RegistrationStatus.PENDING, RegistrationStatus.REJECTED] * 2
    stations = [StationFactory(registration_status=state) for state in states]
    batch = Batch()
    answers = [
        station_boot(batch=batch, station_pk=s.pk, info=info(n), now=T0 + timedelta(seconds=n))
        for n, s in enumerate(stations)
    ]
    batch.flush()
    assert [a.status for a in answers] == ["Accepted", "Pending", "Rejected"] * 2
    for n, station in enumerate(stations):
        station.refresh_from_db()
        assert (station.vendor, station.model, station.firmware_version) == (f"V{n}", f"M{n}", f"1.{n}")
        assert station.serial_number == ""
        assert station.last_boot_at == station.last_seen == T0 + timedelta(seconds=n)


def test_boots_of_one_commit_take_one_statement_with_arrays(django_assert_num_queries):
    stations = [StationFactory() for _ in range(20)]
    batch = Batch()
    answers = [station_boot(batch=batch, station_pk=s.pk, info=info(1), now=T0) for s in stations]
    # Without arrays (SQLite): one read of all, then one UPDATE per station.
    statements = 1 if connection.vendor == "postgresql" else 1 + len(stations)
    with django_assert_num_queries(statements):
        batch.flush()
    assert {a.status for a in answers} == {"Accepted"}


def test_a_station_booting_twice_in_one_commit_keeps_the_later_info():
    station = StationFactory(registration_status=RegistrationStatus.PENDING)
    batch = Batch()
    first = station_boot(batch=batch, station_pk=station.pk, info=info(1), now=T0)
    second = station_boot(batch=batch, station_pk=station.pk, info=info(2), now=T0 + timedelta(seconds=1))
    batch.flush()
    assert first.status == second.status == "Pending"
    station.refresh_from_db()
    assert station.vendor == "V2" and station.last_boot_at == T0 + timedelta(seconds=1)


def test_a_station_deleted_before_its_boot_is_written_is_rejected():
    station = StationFactory()
    batch = Batch()
    answer = station_boot(batch=batch, station_pk=station.pk, info=info(1), now=T0)
    Station.objects.filter(pk=station.pk).delete()
    batch.flush()
    assert answer.status == "Rejected"


KNOWN = {"HeartbeatInterval": {"value": "300", "readonly": False}}


@pytest.mark.parametrize(
    ("configuration", "reported", "stale"),
    [
        ({}, info(1), True),
        (KNOWN, info(1), False),
        (KNOWN, {**info(1), "firmwareVersion": "9.9"}, True),
        (KNOWN, {**info(1), "chargePointSerialNumber": "SWAPPED"}, True),
        ({"A": {"value": "1", "readonly": False, "reboot_required": True}}, info(1), True),
    ],
    ids=["unknown", "unchanged", "new-firmware", "new-serial", "reboot-required"],
)
def test_the_answer_says_whether_the_configuration_may_have_changed(configuration, reported, stale):
    station = StationFactory(configuration=configuration, vendor="V1", model="M1", firmware_version="1.1")
    batch = Batch()
    answer = station_boot(batch=batch, station_pk=station.pk, info=reported, now=T0)
    batch.flush()
    assert answer.configuration_stale is stale


def boot(station, reported) -> bool:
    batch = Batch()
    answer = station_boot(batch=batch, station_pk=station.pk, info=reported, now=T0)
    batch.flush()
    return answer.configuration_stale


def test_new_firmware_is_asked_about_until_the_station_answers():
    station = StationFactory(configuration=KNOWN, vendor="V1", model="M1", firmware_version="1.1")
    assert boot(station, {**info(1), "firmwareVersion": "2.0"})
    # The GetConfiguration never came (timeout, reboot): asked again next time.
    assert boot(station, {**info(1), "firmwareVersion": "2.0"})
    batch = Batch()
    answer = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    command_result_apply(
        batch=batch, station_pk=station.pk, action="GetConfiguration", request={}, response=answer
    )
    batch.flush()
    assert not boot(station, {**info(1), "firmwareVersion": "2.0"})


def test_answers_for_some_keys_only_leave_it_asked_about():
    station = StationFactory(configuration=KNOWN, vendor="V1", model="M1", firmware_version="1.1")
    assert boot(station, {**info(1), "firmwareVersion": "2.0"})
    batch = Batch()
    command_result_apply(
        batch=batch,
        station_pk=station.pk,
        action="GetConfiguration",
        request={"key": ["HeartbeatInterval"]},
        response={"configurationKey": [{"key": "HeartbeatInterval", "value": "60"}]},
    )
    batch.flush()
    assert boot(station, {**info(1), "firmwareVersion": "2.0"})
