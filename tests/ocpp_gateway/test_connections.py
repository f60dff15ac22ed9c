"""GET /ocpp/connections: who is connected now."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from tests.live import http
from tests.station import eventually, station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_connected_stations_are_listed_while_connected(server, live_token):
    key = await sync_to_async(live_token)()
    async with station_session(server, "CP-ON:1"), station_session(server, "CP-ON:2"):
        response = await http(server, "GET", "/ocpp/connections", key)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == len(body["results"]) >= 2 and body["previous"] is None
        ours = [c for c in body["results"] if c["station_id"].startswith("CP-ON:")]
        assert [c["station_id"] for c in ours] == ["CP-ON:2", "CP-ON:1"]  # newest first
        for connection in ours:
            since = datetime.fromisoformat(connection["connected_since"])
            assert abs(since - datetime.now(UTC)) < timedelta(seconds=30)
            assert datetime.fromisoformat(connection["last_seen"]) >= since

    async def gone():
        # The server unregisters once it has handled the close: soon, not at once.
        response = await http(server, "GET", "/ocpp/connections", key)
        assert not [c for c in response.json()["results"] if c["station_id"].startswith("CP-ON:")]

    await eventually(gone)


@pytest.mark.parametrize(("role", "status"), [("client", 403), (None, 401)])
async def test_connections_are_for_operators(server, live_token, role, status):
    key = await sync_to_async(live_token)(role) if role else None
    assert (await http(server, "GET", "/ocpp/connections", key)).status_code == status
