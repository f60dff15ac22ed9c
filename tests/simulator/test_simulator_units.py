"""The simulator's pure parts: key table, fleet ids and URLs, meter samples, schedules."""

from datetime import UTC, datetime, timedelta

import pytest

from simulator.config import Configuration
from simulator.fleet import station_ids, station_url
from simulator.meter import sampled_values
from simulator.schedule import Installed, composite, limit_w

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class TestConfiguration:
    def test_get_all_keys_and_unknown_ones(self):
        config = Configuration.default(connectors=3, heartbeat_interval=120)
        everything = config.get()
        assert "unknownKey" not in everything
        keys = {k["key"]: k for k in everything["configurationKey"]}
        assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "3"}
        assert keys["HeartbeatInterval"]["value"] == "120"
        assert config.get(["HeartbeatInterval", "Bogus"]) == {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "120"}],
            "unknownKey": ["Bogus"],
        }

    @pytest.mark.parametrize(
        ("key", "value", "status"),
        [
            ("HeartbeatInterval", "30", "Accepted"),
            ("HeartbeatInterval", "-1", "Rejected"),
            ("HeartbeatInterval", "30s", "Rejected"),
            ("NumberOfConnectors", "4", "Rejected"),  # read-only
            ("AuthorizeRemoteTxRequests", "TRUE", "Accepted"),
            ("AuthorizeRemoteTxRequests", "yes", "Rejected"),
            ("MeterValuesSampledData", "Energy.Active.Import.Register,SoC", "Accepted"),
            ("MeterValuesSampledData", "Energy.Active.Import.Register,Banana", "Rejected"),
            ("NoSuchKey", "1", "NotSupported"),
        ],
    )
    def test_change_answers_like_a_station(self, key, value, status):
        config = Configuration.default(connectors=2)
        before = config.get([key])
        assert config.change(key, value) == status
        if status == "Accepted":
            stored = value.lower() if key == "AuthorizeRemoteTxRequests" else value
            assert config.get([key])["configurationKey"][0]["value"] == stored
        else:
            assert config.get([key]) == before

    def test_typed_reads(self):
        config = Configuration.default(connectors=2, meter_interval=15)
        assert config.as_int("MeterValueSampleInterval") == 15
        assert config.as_bool("LocalAuthListEnabled") is True
        assert "Current.Import" in config.as_list("MeterValuesSampledData")


class TestFleet:
    def test_one_station_keeps_its_id(self):
        assert station_ids("CP-1", 1) == ["CP-1"]

    def test_a_fleet_is_numbered_from_one(self):
        assert station_ids("LOAD", 3) == ["LOAD-0001", "LOAD-0002", "LOAD-0003"]
        assert station_ids("LOAD", 12000)[-1] == "LOAD-12000"

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("ws://h:8000/ws/{id}", "ws://h:8000/ws/CP%3A01%23A"),
            ("ws://h:8000/ws/ANYTHING", "ws://h:8000/ws/CP%3A01%23A"),
            ("ws://h:8000/ws/", "ws://h:8000/ws/CP%3A01%23A"),
            ("wss://h/a/{id}/ocpp?x=1", "wss://h/a/CP%3A01%23A/ocpp?x=1"),
        ],
    )
    def test_url_gets_the_station_id(self, url, expected):
        assert station_url(url, "CP:01#A") == expected


class TestMeter:
    def test_power_current_and_voltage_per_phase(self):
        values = sampled_values(
            measurands=["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"],
            energy_wh=1234.9,
            power_w=6900.0,
            offered_w=11000.0,
        )
        by = {(v["measurand"], v.get("phase")): (v["value"], v["unit"]) for v in values}
        assert by[("Energy.Active.Import.Register", None)] == ("1234", "Wh")
        assert by[("Power.Active.Import", None)] == ("6900.0", "W")
        for phase in ("L1", "L2", "L3"):
            assert by[("Power.Active.Import", phase)] == ("2300.0", "W")
            assert by[("Current.Import", phase)] == ("10.00", "A")
            assert by[("Voltage", f"{phase}-N")] == ("230.0", "V")

    def test_only_the_configured_measurands(self):
        values = sampled_values(measurands=["SoC"], energy_wh=0, power_w=0, offered_w=0, session_wh=6000)
        assert values == [
            {
                "value": "30",
                "context": "Sample.Periodic",
                "measurand": "SoC",
                "location": "EV",
                "unit": "Percent",
            }
        ]


def profile(profile_id, purpose, limit, *, stack=0, unit="W", periods=None, kind="Absolute", start=NOW):
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": {
            "startSchedule": start.isoformat(),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods or [{"startPeriod": 0, "limit": limit}],
        },
    }


class TestSchedule:
    def test_no_profile_means_the_station_maximum(self):
        assert limit_w([], connector_id=1, at=NOW, tx_start=None, max_w=11000) == 11000

    def test_station_maximum_caps_the_default_and_a_higher_stack_wins(self):
        profiles = [
            Installed(0, profile(1, "ChargePointMaxProfile", 7000)),
            Installed(1, profile(2, "TxDefaultProfile", 9000)),
            Installed(1, profile(3, "TxDefaultProfile", 16, stack=1, unit="A")),  # 16 A x 230 V x 3
        ]
        assert limit_w(profiles, connector_id=1, at=NOW, tx_start=None, max_w=22000) == 7000
        assert limit_w(profiles[1:], connector_id=1, at=NOW, tx_start=None, max_w=22000) == 11040

    def test_a_transaction_profile_applies_only_during_a_transaction(self):
        profiles = [Installed(1, profile(1, "TxProfile", 2000, kind="Relative"))]
        assert limit_w(profiles, connector_id=1, at=NOW, tx_start=None, max_w=11000) == 11000
        assert limit_w(profiles, connector_id=1, at=NOW, tx_start=NOW, max_w=11000) == 2000

    def test_composite_has_a_period_per_change(self):
        periods = [{"startPeriod": 0, "limit": 6000}, {"startPeriod": 600, "limit": 3000}]
        profiles = [Installed(1, profile(1, "TxDefaultProfile", None, periods=periods))]
        schedule = composite(
            profiles, connector_id=1, now=NOW, duration=3600, unit="W", tx_start=None, max_w=11000
        )
        assert schedule["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 6000.0},
            {"startPeriod": 600, "limit": 3000.0},
        ]
        in_amps = composite(
            profiles, connector_id=1, now=NOW, duration=300, unit="A", tx_start=None, max_w=11000
        )
        assert in_amps["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 8.7}]

    def test_daily_recurring_profile_repeats(self):
        periods = [{"startPeriod": 0, "limit": 1000}, {"startPeriod": 3600, "limit": 5000}]
        recurring = profile(1, "TxDefaultProfile", None, periods=periods, kind="Recurring")
        recurring["recurrencyKind"] = "Daily"
        profiles = [Installed(0, recurring)]
        next_day = NOW + timedelta(days=1, minutes=30)
        assert limit_w(profiles, connector_id=1, at=next_day, tx_start=None, max_w=11000) == 1000
        assert (
            limit_w(profiles, connector_id=1, at=next_day + timedelta(hours=1), tx_start=None, max_w=11000)
            == 5000
        )
