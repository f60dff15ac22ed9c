"""Tests for billing.pricing: a pure function, so no Django and no database.

Expected bills are computed by hand; the comment above each one shows how.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.pricing import (
    MeterReading,
    TariffSnapshot,
    currency_is_valid,
    price_session,
    quantize_money,
)

BERLIN = ZoneInfo("Europe/Berlin")
ALL_DAYS = [1, 2, 3, 4, 5, 6, 7]


def at(text, zone=UTC):
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def tariff(currency="EUR", **fields):
    return TariffSnapshot.from_dict({"currency": currency, **fields})


def period(start, end, days=ALL_DAYS, kwh="0", minute="0", idle="0"):
    return {
        "days": days,
        "start": start,
        "end": end,
        "price_per_kwh": kwh,
        "price_per_minute": minute,
        "idle_fee_per_minute": idle,
    }


def price(snapshot, readings, start, end, zone="UTC", **kwargs):
    return price_session(
        tariff=snapshot,
        time_zone=zone,
        readings=[MeterReading(timestamp=t, energy_wh=wh) for t, wh in readings],
        started_at=start,
        ended_at=end,
        **kwargs,
    )


def test_flat_tariff_simple_session():
    snapshot = tariff(price_per_kwh="0.30", price_per_minute="0.02", session_fee="0.50")
    start, end = at("2024-06-12 10:00"), at("2024-06-12 11:00")
    bill = price(snapshot, [(start, 0), (at("2024-06-12 10:30"), 4000), (end, 10000)], start, end)
    # 10 kWh * 0.30 = 3.00; 60 min * 0.02 = 1.20; fee 0.50 -> 4.70
    assert bill.energy_kwh == Decimal(10)
    assert bill.duration_seconds == 3600
    assert bill.energy_cost == Decimal("3.00")
    assert bill.time_cost == Decimal("1.20")
    assert bill.idle_minutes == 0 and bill.idle_cost == 0
    assert bill.session_fee == Decimal("0.50")
    assert str(bill.total) == "4.70"
    assert bill.currency == "EUR"


def test_session_fee_only():
    snapshot = tariff(session_fee="1.50")
    start, end = at("2024-06-12 10:00"), at("2024-06-12 10:45")
    # every price but the fee is 0 -> 1.50, whatever happened
    assert price(snapshot, [(start, 0), (end, 7000)], start, end).total == Decimal("1.50")
    empty = price(snapshot, [], start, end)
    assert empty.energy_kwh == 0 and empty.total == Decimal("1.50")
    backwards = price(snapshot, [(start, 0)], end, start)  # ended before it started
    assert backwards.duration_seconds == 0 and backwards.total == Decimal("1.50")


def test_session_crossing_night_period_boundary():
    night = period("22:00", "06:00", kwh="0.20", minute="0.04")
    snapshot = tariff(price_per_kwh="0.40", price_per_minute="0.10", periods=[night])
    start, end = (
        at("2024-06-12 21:30", BERLIN),
        at("2024-06-12 22:30", BERLIN),
    )  # 19:30Z-20:30Z
    # constant 20 kW; the 21:30-22:15 interval straddles 22:00 and is split 30/15 min
    readings = [(start, 0), (at("2024-06-12 22:15", BERLIN), 15000), (end, 20000)]
    bill = price(snapshot, readings, start, end, zone="Europe/Berlin")
    # energy: 10 kWh * 0.40 + 10 kWh * 0.20 = 4.00 + 2.00 = 6.00
    assert bill.energy_cost == Decimal("6.00")
    # time: 30 min * 0.10 + 30 min * 0.04 = 3.00 + 1.20 = 4.20
    assert bill.time_cost == Decimal("4.20")
    # 6.00 + 4.20 = 10.20
    assert bill.total == Decimal("10.20")


def test_overnight_period_belongs_to_the_day_it_starts():
    friday_night = period("22:00", "06:00", days=[5], minute="0.01")
    snapshot = tariff(price_per_minute="0.10", periods=[friday_night])
    # Saturday 2024-06-15 05:00-07:00: 60 min of Friday's night * 0.01 + 60 min * 0.10 = 0.60 + 6.00
    saturday_morning = price(
        snapshot,
        [],
        at("2024-06-15 05:00", BERLIN),
        at("2024-06-15 07:00", BERLIN),
        zone="Europe/Berlin",
    )
    assert saturday_morning.total == Decimal("6.60")
    # Saturday 23:00 - Sunday 01:00: Saturday is not a period day -> 120 min * 0.10 = 12.00
    saturday_night = price(
        snapshot,
        [],
        at("2024-06-15 23:00", BERLIN),
        at("2024-06-16 01:00", BERLIN),
        zone="Europe/Berlin",
    )
    assert saturday_night.total == Decimal("12.00")


def test_first_matching_period_wins_and_whole_day_period():
    lunch = period("12:00", "13:00", minute="1")
    whole_day = period("00:00", "00:00", minute="0.5")
    start, end = at("2024-06-12 11:30"), at("2024-06-12 13:30")
    # 30 min * 0.5 + 60 min * 1 + 30 min * 0.5 = 15 + 60 + 15 = 90.00
    bill = price(tariff(price_per_minute="0.10", periods=[lunch, whole_day]), [], start, end)
    assert bill.total == Decimal("90.00")
    # whole day listed first covers lunch too: 120 min * 0.5 = 60.00
    bill = price(tariff(price_per_minute="0.10", periods=[whole_day, lunch]), [], start, end)
    assert bill.total == Decimal("60.00")


def test_idle_time_after_grace():
    snapshot = tariff(
        price_per_kwh="0.30",
        price_per_minute="0.05",
        idle_fee_per_minute="0.50",
        idle_grace_minutes=10,
    )
    start, end = at("2024-06-12 10:00"), at("2024-06-12 11:00")
    readings = [(start, 0), (at("2024-06-12 10:30"), 5000), (end, 5000)]
    bill = price(snapshot, readings, start, end)
    # charging ends at the last increase, 10:30: 30 idle min - 10 grace = 20 min * 0.50 = 10.00
    assert bill.idle_minutes == Decimal(20)
    assert bill.idle_cost == Decimal("10.00")
    # 5 kWh * 0.30 + 60 min * 0.05 + 10.00 = 1.50 + 3.00 + 10.00 = 14.50
    assert bill.total == Decimal("14.50")
    explicit = price(snapshot, readings, start, end, charging_ended_at=at("2024-06-12 10:45"))
    # 15 idle min - 10 grace = 5 min * 0.50 = 2.50; 1.50 + 3.00 + 2.50 = 7.00
    assert explicit.idle_minutes == Decimal(5)
    assert explicit.total == Decimal("7.00")


def test_idle_fee_follows_periods():
    free_afternoon = period("12:00", "24:00", idle="0")
    snapshot = tariff(idle_fee_per_minute="0.50", periods=[free_afternoon])
    start, end = at("2024-06-12 11:00"), at("2024-06-12 12:30")
    readings = [(start, 0), (at("2024-06-12 11:30"), 3000), (end, 3000)]
    # idle 11:30-12:00 = 30 min * 0.50 = 15.00; 12:00-12:30 = 30 min * 0 = 0
    bill = price(snapshot, readings, start, end)
    assert bill.idle_minutes == Decimal(60)
    assert bill.total == Decimal("15.00")


def test_live_pricing_ends_at_latest_sample():
    snapshot = tariff(price_per_kwh="0.30", price_per_minute="0.05", idle_fee_per_minute="1")
    start, latest = at("2024-06-12 10:00"), at("2024-06-12 10:20")
    bill = price(snapshot, [(start, 0), (latest, 2000)], start, latest)
    # still charging, so no idle: 2 kWh * 0.30 + 20 min * 0.05 = 0.60 + 1.00 = 1.60
    assert bill.idle_minutes == 0
    assert bill.total == Decimal("1.60")


def test_readings_outside_the_session():
    snapshot = tariff(price_per_kwh="1")
    start, end = at("2024-06-12 10:00"), at("2024-06-12 10:30")
    readings = [
        (at("2024-06-12 10:40"), 3500),  # after the final reading: ignored
        (at("2024-06-12 09:50"), 900),  # before the baseline: ignored
        (at("2024-06-12 09:59"), 1000),  # baseline
        (end, 3000),
    ]
    # (3000 - 1000) Wh = 2 kWh * 1 = 2.00
    assert price(snapshot, readings, start, end).total == Decimal("2.00")


def test_rounding_half_up_once():
    snapshot = tariff(price_per_kwh="0.245", price_per_minute="0.1225")
    start, end = at("2024-06-12 10:00"), at("2024-06-12 10:01")
    bill = price(snapshot, [(start, 0), (end, 500)], start, end)
    # 0.5 kWh * 0.245 = 0.1225; 1 min * 0.1225 = 0.1225; 0.2450 -> 0.25 half-up
    # (rounding each part first gives 0.12 + 0.12 = 0.24, half-even gives 0.24)
    assert bill.energy_cost == Decimal("0.1225")
    assert bill.time_cost == Decimal("0.1225")
    assert str(bill.total) == "0.25"


def test_jpy_has_no_minor_unit():
    start, end = at("2024-06-12 10:00"), at("2024-06-12 11:00")
    bill = price(tariff("JPY", price_per_kwh="35"), [(start, 0), (end, 12300)], start, end)
    # 12.3 kWh * 35 = 430.5 -> 431
    assert str(bill.total) == "431"


def test_kwd_has_three_decimals():
    snapshot = tariff("KWD", price_per_kwh="0.0123", price_per_minute="0.00105")
    start, end = at("2024-06-12 10:00"), at("2024-06-12 10:30")
    bill = price(snapshot, [(start, 0), (end, 10000)], start, end)
    # 10 kWh * 0.0123 + 30 min * 0.00105 = 0.123 + 0.0315 = 0.1545 -> 0.155
    assert str(bill.total) == "0.155"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "EUR", "2.35"),
        ("-2.345", "EUR", "-2.35"),
        ("2.5", "JPY", "3"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_quantize_money(amount, currency, expected):
    assert str(quantize_money(Decimal(amount), currency)) == expected


def test_currency_is_valid():
    assert currency_is_valid("EUR") and currency_is_valid("JPY") and currency_is_valid("KWD")
    assert not currency_is_valid("eur")
    assert not currency_is_valid("XYZ")
    assert not currency_is_valid(978)
    assert not currency_is_valid("XAU") and not currency_is_valid("XTS")  # no minor unit


@pytest.mark.parametrize(
    ("start", "end", "minutes", "expected"),
    [
        # spring forward: 22:00 CET (21:00Z) - 06:00 CEST (04:00Z) is 7 h of night
        # 120 min * 0.10 + 420 min * 0.01 = 12.00 + 4.20 = 16.20
        ("2024-03-30 21:00", "2024-03-31 07:00", 540, "16.20"),
        # fall back: 22:00 CEST (20:00Z) - 06:00 CET (05:00Z) is 9 h of night
        # 120 min * 0.10 + 540 min * 0.01 = 12.00 + 5.40 = 17.40
        ("2024-10-26 21:00", "2024-10-27 07:00", 660, "17.40"),
    ],
)
def test_dst_change_night(start, end, minutes, expected):
    snapshot = tariff(price_per_minute="0.10", periods=[period("22:00", "06:00", minute="0.01")])
    bill = price(snapshot, [], at(start, BERLIN), at(end, BERLIN), zone="Europe/Berlin")
    assert bill.duration_seconds == minutes * 60
    assert bill.total == Decimal(expected)


def test_negative_meter_delta_is_clamped():
    snapshot = tariff(price_per_kwh="0.25")
    start, end = at("2024-06-12 10:00"), at("2024-06-12 10:40")
    readings = [
        (start, 0),
        (at("2024-06-12 10:10"), 3000),
        (at("2024-06-12 10:20"), 1000),  # meter reset / bogus sample
        (at("2024-06-12 10:30"), 2000),
        (end, 1500),  # stop below the last sample
    ]
    bill = price(snapshot, readings, start, end)
    # 3000 + 0 + 1000 + 0 = 4000 Wh = 4 kWh * 0.25 = 1.00
    assert bill.energy_kwh == Decimal(4)
    assert bill.total == Decimal("1.00")
    # last increase at 10:30 -> 10 idle min
    assert bill.idle_minutes == Decimal(10)
    # a register that only goes down gives 0 kWh, never negative
    assert price(snapshot, [(start, 5000), (end, 4000)], start, end).energy_kwh == 0


SNAPSHOT = {
    "currency": "EUR",
    "price_per_kwh": "0.30",
    "price_per_minute": "0.0500",
    "session_fee": "1",
    "idle_fee_per_minute": "0.10",
    "idle_grace_minutes": 15,
    "periods": [period("22:00", "06:00", days=[1, 2, 3, 4, 5], kwh="0.20", minute="0", idle="0")],
}


def test_snapshot_round_trip():
    snapshot = TariffSnapshot.from_dict(SNAPSHOT)
    assert snapshot.price_per_kwh == Decimal("0.30")
    assert snapshot.periods[0].days == (1, 2, 3, 4, 5)
    assert snapshot.to_dict() == SNAPSHOT
    assert json.loads(json.dumps(snapshot.to_dict())) == SNAPSHOT
    assert TariffSnapshot.from_dict(snapshot.to_dict()) == snapshot


def test_snapshot_accepts_decimal_and_int():
    snapshot = TariffSnapshot.from_dict(
        {
            **SNAPSHOT,
            "price_per_kwh": Decimal("0.30"),
            "price_per_minute": Decimal("0.05"),
            "session_fee": 1,
        }
    )
    assert snapshot == TariffSnapshot.from_dict(SNAPSHOT)


@pytest.mark.parametrize(
    "change",
    [
        {"price_per_kwh": 0.3},  # floats are refused
        {"price_per_kwh": "-1"},
        {"price_per_kwh": "abc"},
        {"price_per_kWh": "0.30"},  # misspelt key
        {"currency": "EURO"},
        {"idle_grace_minutes": -5},
        {"periods": [period("25:00", "06:00")]},
        {"periods": [period("22:00", "6:00")]},
        {"periods": [period("22:00", "06:00", days=[0])]},
        {"periods": [period("22:00", "06:00", days=[])]},
        {"periods": [{"days": [1], "start": "22:00", "end": "06:00"}]},  # prices missing
    ],
)
def test_snapshot_rejects_bad_input(change):
    with pytest.raises(ValueError):
        TariffSnapshot.from_dict({**SNAPSHOT, **change})


def test_naive_datetimes_rejected():
    snapshot = tariff(price_per_kwh="0.30")
    aware, naive = at("2024-06-12 10:00"), datetime(2024, 6, 12, 11, 0)
    with pytest.raises(ValueError):
        price(snapshot, [], naive, aware)
    with pytest.raises(ValueError):
        price(snapshot, [(naive, 100)], aware, at("2024-06-12 11:00"))
    with pytest.raises(ValueError):
        price(snapshot, [], aware, at("2024-06-12 11:00"), charging_ended_at=naive)
