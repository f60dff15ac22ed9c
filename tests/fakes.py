"""The one stand-in for the door to a station, `ocpp_gateway.commands.station_command`."""

import pytest

from ocpp_gateway import commands
from ocpp_gateway.writer import Batch
from stations.commands_state import command_result_apply


class FakeStation:
    """Answers commands as a station would, and applies the answers through
    the command-result hook as the gateway does.

    `sent` holds `(action, payload)`, or `(station_id, action, payload)` with
    `with_station_id`; `answers` and `errors` (a CommandFailed to raise) are
    by action; `during` runs a callable while the "station" handles an action."""

    def __init__(self, with_station_id: bool = False):
        self.answers: dict = {}
        self.errors: dict = {}
        self.during: dict = {}
        self.sent: list = []
        self.with_station_id = with_station_id

    def __call__(self, *, station, action, payload, timeout=None):
        self.sent.append((station.station_id, action, payload) if self.with_station_id else (action, payload))
        if action in self.during:
            self.during[action](payload)
        if action in self.errors:
            raise self.errors[action]
        response = self.answers.get(action, {"status": "Accepted"})
        batch = Batch()
        command_result_apply(
            batch=batch, station_pk=station.pk, action=action, request=payload, response=response
        )
        batch.flush()
        return response


@pytest.fixture
def station_cmd(monkeypatch):
    fake = FakeStation()
    monkeypatch.setattr(commands, "station_command", fake)
    return fake
