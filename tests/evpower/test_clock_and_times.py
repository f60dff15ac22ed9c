"""API times are UTC whatever TIME_ZONE says; TIME_ZONE is the stations' default zone."""

import importlib

import pytest

from stations.models import MessageLog
from tests.factories import StationFactory


def test_time_zone_variable_sets_station_default_not_api_zone(monkeypatch):
    import evpower.settings as settings_module

    monkeypatch.setenv("TIME_ZONE", "Europe/Berlin")
    try:
        reloaded = importlib.reload(settings_module)
        assert reloaded.TIME_ZONE == "UTC"
        assert reloaded.STATION_TIME_ZONE == "Europe/Berlin"
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


def test_unknown_time_zone_variable_refuses_to_start(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    import evpower.settings as settings_module

    monkeypatch.setenv("TIME_ZONE", "Mars/Olympus")
    try:
        with pytest.raises(ImproperlyConfigured):
            importlib.reload(settings_module)
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


@pytest.mark.django_db
def test_station_zone_setting_does_not_shift_api_times(api, settings):
    settings.STATION_TIME_ZONE = "Asia/Tokyo"
    StationFactory(station_id="CP-UTC")
    from evpower.clock import utcnow

    MessageLog.objects.create(
        station_id="CP-UTC", direction="in", message_type="CALL", action="Heartbeat", created_at=utcnow()
    )
    message = api["operator"].get("/ocpp/messages").json()["results"][0]
    assert message["created_at"].endswith("Z")
    station = api["operator"].get("/ocpp/stations/CP-UTC").json()
    assert station["time_zone"] == "Asia/Tokyo"  # the default for new stations
