import pytest

from ocpp_gateway import presence
from tests.fakes import FakeStation, station_cmd  # noqa: F401 (fixtures)


class FakePresence:
    """Stands in for live presence (Redis or the gateway process): station id
    -> entry, and counts how views read it."""

    def __init__(self):
        self.entries: dict[str, dict] = {}
        self.calls = {"connections": 0, "connection_get": 0}

    def connect(self, station_id: str, since: str, last_seen: str) -> None:
        self.entries[station_id] = {
            "station_id": station_id,
            "connected_since": since,
            "last_seen": last_seen,
        }

    def connections(self) -> list[dict]:
        self.calls["connections"] += 1
        return list(self.entries.values())

    def connection_get(self, station_id: str) -> dict | None:
        self.calls["connection_get"] += 1
        return self.entries.get(station_id)


@pytest.fixture
def live(monkeypatch):
    fake = FakePresence()
    monkeypatch.setattr(presence, "connections", fake.connections)
    monkeypatch.setattr(presence, "connection_get", fake.connection_get)
    return fake
