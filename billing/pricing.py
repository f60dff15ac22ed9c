"""Pricing of a charging session from a tariff snapshot and meter readings.

Pure on purpose (no Django, no ORM): a bill can be re-run exactly from what a
session stored. Rules for the edge cases:

* Periods are "HH:MM" wall-clock times in the station's zone; an `end` at or
  before `start` is on the next day (22:00-06:00 overnight, 08:00-08:00 is 24 h,
  00:00-00:00 all day), "24:00" is midnight. An occurrence belongs to the day it
  starts: Friday 22:00-06:00 covers Saturday 00:00-06:00, Saturday's does not.
* Wall-clock times go through zoneinfo with fold=0 (a time skipped by DST takes
  the pre-jump offset, an ambiguous one its first occurrence); slicing is done
  on UTC instants, so a 22:00-06:00 night lasts 7 or 9 h on DST change days.
* Energy is the sum of the deltas between consecutive readings, each clamped
  at 0; for a monotonic register that is meter_stop - meter_start.
* The last reading at or before started_at is the baseline, the first one at
  or after ended_at the final one; readings beyond them are ignored.
* All in Decimal, rounded once (half-up, to the currency's minor unit). The
  session fee is charged even for an empty session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_currency_precision, list_currencies


class PricingError(ValueError):
    """A tariff or session input that cannot be priced."""


# ISO 4217 codes whose minor unit is "N.A." (precious metals, funds, testing):
# babel would round them to 2 places, a precision no one defined.
_NO_MINOR_UNIT = {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
_CURRENCIES = frozenset(list_currencies()) - _NO_MINOR_UNIT
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_PERIOD_PRICES = ("price_per_kwh", "price_per_minute", "idle_fee_per_minute")


def currency_is_valid(code: str) -> bool:
    return isinstance(code, str) and code in _CURRENCIES


def clock_is_valid(value: Any, *, end: bool = False) -> bool:
    """ "HH:MM" on a 24 h clock; an end may also be "24:00"."""
    return isinstance(value, str) and (bool(_CLOCK.fullmatch(value)) or (end and value == "24:00"))


def quantize_money(amount: Decimal | int, currency: str) -> Decimal:
    if not currency_is_valid(currency):
        raise PricingError(f"unknown currency {currency!r}")
    unit = Decimal(1).scaleb(-get_currency_precision(currency))
    return _decimal(amount, "amount").quantize(unit, rounding=ROUND_HALF_UP)


def _decimal(value: Any, name: str) -> Decimal:
    # Floats are refused: 0.1 is not 0.1, and a bill must be reproducible.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise PricingError(f"{name}: expected Decimal, int or str, not {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise PricingError(f"{name}: not a number: {value!r}") from None
    if not result.is_finite():
        raise PricingError(f"{name}: not a finite number: {value!r}")
    return result


def _set_prices(obj: object, names: Sequence[str]) -> None:
    for name in names:
        price = _decimal(getattr(obj, name), name)
        if price < 0:
            raise PricingError(f"{name} must not be negative")
        object.__setattr__(obj, name, price)


def _check_keys(cls: type, data: Any, required: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise PricingError(f"{cls.__name__}: expected a mapping, not {data!r}")
    # Unknown keys are refused so that a misspelt price is not silently 0.
    unknown = set(data) - {f.name for f in fields(cls)}
    missing = required - set(data)
    if unknown or missing:
        problems = f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
        raise PricingError(f"{cls.__name__}: {problems}")


def _json_dict(items: list[tuple[str, Any]]) -> dict[str, Any]:
    # Prices as strings keep every digit; tuples (days, periods) become lists.
    convert = {Decimal: str, tuple: list}
    return {key: convert.get(type(value), lambda v: v)(value) for key, value in items}


def _clock(value: str) -> time:
    return time(int(value[:2]), int(value[3:]))


@dataclass(frozen=True)
class TariffPeriod:
    days: tuple[int, ...]  # ISO weekdays, 1 = Monday ... 7 = Sunday
    start: str  # "HH:MM", station-local
    end: str  # "HH:MM" or "24:00"; at or before start means the next day
    price_per_kwh: Decimal
    price_per_minute: Decimal
    idle_fee_per_minute: Decimal

    def __post_init__(self) -> None:
        days = tuple(self.days) if isinstance(self.days, list | tuple) else ()
        if not days or any(type(d) is not int or not 1 <= d <= 7 for d in days):
            raise PricingError(f"days must be a non-empty list of 1..7: {self.days!r}")
        object.__setattr__(self, "days", days)
        if not clock_is_valid(self.start):
            raise PricingError(f"start must be 'HH:MM', got {self.start!r}")
        if not clock_is_valid(self.end, end=True):
            raise PricingError(f"end must be 'HH:MM' or '24:00', got {self.end!r}")
        _set_prices(self, _PERIOD_PRICES)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TariffPeriod:
        _check_keys(cls, data, required={f.name for f in fields(cls)})
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self, dict_factory=_json_dict)

    def occurrence(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The UTC instants of this period's occurrence starting on `day`."""
        begin = datetime.combine(day, _clock(self.start), tzinfo=zone)
        # Zero-padded "HH:MM" strings compare like the times they name.
        wraps = self.end == "24:00" or self.end <= self.start
        end_clock = _clock("00:00" if self.end == "24:00" else self.end)
        finish = datetime.combine(day + timedelta(days=wraps), end_clock, tzinfo=zone)
        return begin.astimezone(UTC), finish.astimezone(UTC)


@dataclass(frozen=True)
class TariffSnapshot:
    currency: str
    price_per_kwh: Decimal = Decimal(0)
    price_per_minute: Decimal = Decimal(0)
    session_fee: Decimal = Decimal(0)
    idle_fee_per_minute: Decimal = Decimal(0)
    idle_grace_minutes: int = 0
    periods: tuple[TariffPeriod, ...] = ()

    def __post_init__(self) -> None:
        if not currency_is_valid(self.currency):
            raise PricingError(f"unknown currency {self.currency!r}")
        _set_prices(self, (*_PERIOD_PRICES, "session_fee"))
        grace = self.idle_grace_minutes
        if type(grace) is not int or grace < 0:
            raise PricingError(f"idle_grace_minutes must be an int >= 0: {grace!r}")
        if not isinstance(self.periods, list | tuple):
            raise PricingError(f"periods must be a list, not {self.periods!r}")
        periods = tuple(p if isinstance(p, TariffPeriod) else TariffPeriod.from_dict(p) for p in self.periods)
        object.__setattr__(self, "periods", periods)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TariffSnapshot:
        """Build from a stored snapshot; missing prices default to 0."""
        _check_keys(cls, data, required={"currency"})
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self, dict_factory=_json_dict)


# Both carry price_per_kwh, price_per_minute and idle_fee_per_minute.
Prices = TariffPeriod | TariffSnapshot
Interval = tuple[datetime, datetime, Decimal]  # two readings and the Wh between


@dataclass(frozen=True)
class MeterReading:
    timestamp: datetime  # timezone-aware
    energy_wh: Decimal | int  # energy register value


@dataclass(frozen=True)
class Bill:
    currency: str
    energy_kwh: Decimal  # exact, not rounded
    duration_seconds: int
    idle_minutes: Decimal  # billable idle minutes, after the grace period
    energy_cost: Decimal  # the four parts are unrounded
    time_cost: Decimal
    idle_cost: Decimal
    session_fee: Decimal
    total: Decimal  # rounded once, half-up, to the currency's minor unit


def _utc(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise PricingError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise PricingError(f"{name} must be timezone-aware: {value.isoformat()}")
    return value.astimezone(UTC)


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)).scaleb(-6)


def _meter_points(
    readings: Sequence[MeterReading], start: datetime, end: datetime
) -> list[tuple[datetime, Decimal]]:
    rows = [(_utc(r.timestamp, "reading"), _decimal(r.energy_wh, "Wh")) for r in readings]
    rows.sort(key=lambda row: row[0])  # stable: ties keep the caller's order
    baseline = max((t for t, _ in rows if t <= start), default=start)
    final = min((t for t, _ in rows if t >= end), default=end)
    return [(min(max(t, start), end), wh) for t, wh in rows if baseline <= t <= final]


def _segments(
    tariff: TariffSnapshot, zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, Prices]]:
    """Split [start, end] into pieces priced by one period (or the base prices)."""
    # Ordered by period first, so that the first listed period wins overlaps; from
    # the day before the start, whose overnight occurrence may still be running.
    spans = []
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    days = (end.astimezone(zone).date() - first_day).days + 1
    for period in tariff.periods:
        for n in range(days):
            day = first_day + timedelta(days=n)
            if day.isoweekday() in period.days:
                spans.append((period, *period.occurrence(day, zone)))
    cuts = {start, end} | {t for _, b, f in spans for t in (b, f) if start < t < end}
    result = []
    for a, b in list(pairwise(sorted(cuts))) or [(start, end)]:
        mid = a + (b - a) / 2
        found = (p for p, begin, finish in spans if begin <= mid < finish)
        result.append((a, b, next(found, tariff)))
    return result


def _energy_in(ivs: list[Interval], a: datetime, b: datetime, end: datetime) -> Decimal:
    """The Wh of `ivs` that falls within [a, b]; `end` is the session's end."""
    wh = Decimal(0)
    for t0, t1, delta in ivs:
        if t1 > t0:  # linear interpolation: constant power between two readings
            overlap = min(b, t1) - max(a, t0)
            if overlap > timedelta(0):
                wh += delta * _seconds(overlap) / _seconds(t1 - t0)
        elif a <= t0 < b or t0 == b == end:
            wh += delta  # two readings at one instant: a step, in the piece holding it
    return wh


def price_session(
    *,
    tariff: TariffSnapshot,
    time_zone: str,
    readings: Sequence[MeterReading],
    started_at: datetime,
    ended_at: datetime,
    charging_ended_at: datetime | None = None,
) -> Bill:
    """Price a session; for a running one pass ended_at = the latest sample's time."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise PricingError(f"unknown time zone {time_zone!r}") from None
    start = _utc(started_at, "started_at")
    end = max(_utc(ended_at, "ended_at"), start)
    points = _meter_points(readings, start, end)
    # A meter reset or a bogus sample must never give negative energy.
    intervals = [(t0, t1, max(w1 - w0, Decimal(0))) for (t0, w0), (t1, w1) in pairwise(points)]
    if charging_ended_at is not None:
        charge_end = _utc(charging_ended_at, "charging_ended_at")
    else:
        charge_end = max((t1 for _, t1, wh in intervals if wh > 0), default=start)
    grace = timedelta(minutes=tariff.idle_grace_minutes)
    idle_from = min(max(charge_end, start) + grace, end)

    # A private context: the result must not depend on whatever the caller set.
    with localcontext(prec=34):
        wh_cost = second_cost = idle_second_cost = idle_seconds = Decimal(0)
        for a, b, prices in _segments(tariff, zone, start, end):
            wh_cost += _energy_in(intervals, a, b, end) * prices.price_per_kwh
            second_cost += _seconds(b - a) * prices.price_per_minute
            idle = _seconds(max(b - max(a, idle_from), timedelta(0)))
            idle_seconds += idle
            idle_second_cost += idle * prices.idle_fee_per_minute
        energy_cost = wh_cost / 1000
        time_cost = second_cost / 60
        idle_cost = idle_second_cost / 60
        total = tariff.session_fee + energy_cost + time_cost + idle_cost
        return Bill(
            currency=tariff.currency,
            energy_kwh=sum((wh for _, _, wh in intervals), Decimal(0)) / 1000,
            duration_seconds=(end - start) // timedelta(seconds=1),
            idle_minutes=idle_seconds / 60,
            energy_cost=energy_cost,
            time_cost=time_cost,
            idle_cost=idle_cost,
            session_fee=tariff.session_fee,
            total=quantize_money(total, tariff.currency),
        )
