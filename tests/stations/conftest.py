import pytest

from ocpp_gateway import presence, views
from stations.commands_state import command_result_apply


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


class FakeStation:
    """Stands in for `station_command`, applying answers through the hook as the gateway does.

    `sent` holds `(action, payload)`, or `(station_id, action, payload)` with `with_station_id`."""

    def __init__(self, with_station_id: bool = False):
        self.answers: dict = {}
        self.sent: list = []
        self.with_station_id = with_station_id

    def __call__(self, *, station, action, payload, timeout=None):
        self.sent.append((station.station_id, action, payload) if self.with_station_id else (action, payload))
        response = self.answers.get(action, {"status": "Accepted"})
        command_result_apply(station_pk=station.pk, action=action, request=payload, response=response)
        return response


@pytest.fixture
def station_cmd(monkeypatch):
    fake = FakeStation()
    monkeypatch.setattr(views, "station_command", fake)
    return fake
