"""Security profile 1 through a real server: Basic auth before the upgrade."""

import pytest
import websockets
from asgiref.sync import sync_to_async

from stations.models import Station
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "AuthorizationKey-0123456789"


@pytest.fixture
def protected_station(transactional_db):
    station = Station(station_id="CP-SP1")
    station.set_password(SECRET)
    station.save()
    return station


@pytest.mark.parametrize("password", [None, "wrong-password"])
async def test_missing_or_wrong_credentials_are_refused_before_upgrade(server, protected_station, password):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with station_session(server, "CP-SP1", password=password):
            pass
    # Daphne cannot answer 401 to a WebSocket handshake; it refuses with 403.
    assert refused.value.response.status_code in (401, 403)


async def test_right_credentials_connect_and_boot(server, protected_station):
    async with station_session(server, "CP-SP1", password=SECRET):
        pass  # station_session boots: BootNotification was answered
    refreshed = await sync_to_async(Station.objects.get)(pk=protected_station.pk)
    assert refreshed.last_boot_at is not None
    assert SECRET not in refreshed.password_hash
