"""Who may connect as a station: many at once (a reconnect storm) as one by one."""

import pytest

from stations.models import RegistrationStatus, Station
from stations.registry import stations_for_connection
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db


def test_stations_connecting_together_are_found_in_one_query(django_assert_num_queries):
    for n in range(5):
        StationFactory(station_id=f"CP-{n}")
    with django_assert_num_queries(1):
        found = stations_for_connection(station_ids=[f"CP-{n}" for n in range(5)], unknown_policy="reject")
    assert {station_id: ref.station_id for station_id, ref in found.items()} == {
        f"CP-{n}": f"CP-{n}" for n in range(5)
    }


@pytest.mark.parametrize(
    ("policy", "status"), [("accept", RegistrationStatus.ACCEPTED), ("pending", RegistrationStatus.PENDING)]
)
def test_unknown_stations_among_them_are_registered_per_policy(policy, status):
    StationFactory(station_id="CP-OLD")
    found = stations_for_connection(station_ids=["CP-OLD", "CP-NEW"], unknown_policy=policy)
    assert found["CP-NEW"].registration_status == status
    assert Station.objects.get(station_id="CP-NEW").registration_status == status


def test_unknown_stations_among_them_are_refused_under_reject(django_assert_num_queries):
    StationFactory(station_id="CP-OLD")
    with django_assert_num_queries(1):
        found = stations_for_connection(station_ids=["CP-OLD", "CP-NEW", "CP-NEW2"], unknown_policy="reject")
    assert found["CP-NEW"] is None and found["CP-NEW2"] is None and found["CP-OLD"] is not None
    assert not Station.objects.filter(station_id="CP-NEW").exists()
