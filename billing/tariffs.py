"""Tariffs: the one validation every write goes through, which one applies,
its price snapshot, and their create/update/delete."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction as db_transaction
from django.db.models import ProtectedError, Q
from django.utils.dateparse import parse_datetime

from billing.models import Session, Tariff
from billing.pricing import PricingError, TariffPeriod, TariffSnapshot, clock_is_valid, currency_is_valid
from evpower.errors import Invalid

PRICES = ("price_per_kwh", "price_per_minute", "session_fee", "idle_fee_per_minute")
FIELDS = ("name", "currency", *PRICES, "idle_grace_minutes", "periods", "valid_from", "valid_to")
PERIOD_PRICES = ("price_per_kwh", "price_per_minute", "idle_fee_per_minute")
PERIOD_FIELDS = ("days", "start", "end", *PERIOD_PRICES)
# Prices above this are a typo (a price in cents, a misplaced comma), not a tariff.
MAX_PRICE = Decimal(1000)
PRICE_UNIT = Decimal("0.0001")  # the four decimal places a Tariff stores
MAX_GRACE_MINUTES = 24 * 60
MAX_PERIODS = 100
MAX_NAME = 100
REQUIRED = "This field is required."


class _Refused(Exception):
    """One field's value breaks a rule; the message says which."""


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Refused("This field may not be blank.")
    if len(value.strip()) > MAX_NAME:
        raise _Refused(f"At most {MAX_NAME} characters.")
    return value.strip()


def _currency(value: Any) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    if not currency_is_valid(code):
        raise _Refused(f"{value!r} is not an ISO 4217 currency code with a minor unit.")
    return code


def _price(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # a JSON number: the digits as typed, not the binary float
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise _Refused("A number is required.")
    try:
        price = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise _Refused("A number is required.") from None
    if not price.is_finite():
        raise _Refused("A number is required.")
    if price < 0:
        raise _Refused("Must not be negative.")
    if price > MAX_PRICE:
        raise _Refused(f"Must be at most {MAX_PRICE}.")
    if price != price.quantize(PRICE_UNIT):
        raise _Refused("At most 4 decimal places.")
    return price.quantize(PRICE_UNIT)


def _grace(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if type(value) is not int:
        raise _Refused("A whole number of minutes is required.")
    if not 0 <= value <= MAX_GRACE_MINUTES:
        raise _Refused(f"Must be between 0 and {MAX_GRACE_MINUTES} minutes.")
    return value


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = parse_datetime(value.strip()) if value.strip() else None
        if value is None:
            raise _Refused("A date and time is required, e.g. 2025-01-01T00:00:00Z.")
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise _Refused("A date and time is required, e.g. 2025-01-01T00:00:00Z.")
    if value.utcoffset() is None:
        raise _Refused("The time needs a time zone.")
    return value


def _days(value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise _Refused("A non-empty list of ISO weekdays, 1 = Monday ... 7 = Sunday.")
    days = set()
    for day in value:
        if isinstance(day, str) and day.strip().isdigit():
            day = int(day)
        if type(day) is not int or not 1 <= day <= 7:
            raise _Refused(f"{day!r} is not a weekday 1 (Monday) to 7 (Sunday).")
        days.add(day)
    return sorted(days)


def _clock(value: Any, *, end: bool = False) -> str:
    if not clock_is_valid(value, end=end):
        raise _Refused(f'"HH:MM" on a 24 h clock{" or 24:00" if end else ""}, not {value!r}.')
    return value


_PERIOD_RULES = {
    "days": _days,
    "start": _clock,
    "end": lambda value: _clock(value, end=True),
    **dict.fromkeys(PERIOD_PRICES, _price),
}
_RULES = {
    "name": _name,
    "currency": _currency,
    **dict.fromkeys(PRICES, _price),
    "idle_grace_minutes": _grace,
    "valid_from": _moment,
    "valid_to": _moment,
}
_DEFAULTS = {
    **dict.fromkeys(PRICES, PRICE_UNIT * 0),
    "idle_grace_minutes": 0,
    "valid_from": None,
    "valid_to": None,
}


def _checked(rules: Mapping, data: Mapping, required: set) -> tuple[dict, dict]:
    """(cleaned values, field messages) of `data` by `rules`; unknown keys are refused
    so that a misspelt price is not silently 0."""
    cleaned, errors = {}, {}
    for key in data:
        if key not in rules:
            errors[str(key)] = ["Unknown field."]
    for key, rule in rules.items():
        if key not in data:
            if key in required:
                errors[key] = [REQUIRED]
            continue
        try:
            cleaned[key] = rule(data[key])
        except _Refused as exc:
            errors[key] = [str(exc)]
    return cleaned, errors


def _periods(value: Any) -> tuple[list[dict], list | None]:
    """The periods as stored, and their messages: per period (DRF's shape), or for the list."""
    if not isinstance(value, list | tuple):
        return [], ["A list of periods is required."]
    if len(value) > MAX_PERIODS:
        return [], [f"At most {MAX_PERIODS} periods."]
    periods, errors = [], []
    for item in value:
        if not isinstance(item, Mapping):
            errors.append({"non_field_errors": ["A period is an object with days, start, end and prices."]})
            continue
        cleaned, problems = _checked(_PERIOD_RULES, item, required=set(PERIOD_FIELDS))
        if not problems:
            periods.append(TariffPeriod.from_dict(cleaned).to_dict())
        errors.append(problems)
    return periods, errors if any(errors) else None


def tariff_validate(*, data: Mapping[str, Any]) -> dict:
    """The whole tariff checked as billing will read it: what passes can be priced.

    Every write (API, admin, commands) goes through here. `data` holds tariff
    fields (FIELDS; stations are the caller's); returns all of them cleaned:
    currency upper-cased, prices Decimal with four places, missing ones 0,
    periods as billing stores them. Raises Invalid naming each field at fault;
    periods get one message dict per period."""
    cleaned, errors = _checked(
        _RULES, {k: v for k, v in data.items() if k != "periods"}, {"name", "currency"}
    )
    periods, period_errors = _periods(data.get("periods") or [])
    if period_errors:
        errors["periods"] = period_errors
    if errors:
        raise Invalid(errors)
    cleaned = {**_DEFAULTS, **cleaned, "periods": periods}
    if cleaned["valid_from"] and cleaned["valid_to"] and cleaned["valid_from"] >= cleaned["valid_to"]:
        raise Invalid.field("valid_to", "Must be after valid_from.")
    try:  # the rules above make this pass; it stays the last word on what billing reads
        TariffSnapshot.from_dict(_pricing_fields(cleaned))
    except PricingError as exc:
        raise Invalid.field("non_field_errors", str(exc)) from exc
    return cleaned


def tariff_fields(tariff: Tariff) -> dict:
    """The tariff's own fields (FIELDS) as stored."""
    return {name: getattr(tariff, name) for name in FIELDS}


def tariff_errors(tariff: Tariff) -> dict | None:
    """What is wrong with a stored tariff (one saved before tariffs were validated), or None."""
    try:
        tariff_validate(data=tariff_fields(tariff))
    except Invalid as exc:
        return exc.fields
    return None


def _pricing_fields(fields: Mapping[str, Any]) -> dict:
    names = ("currency", *PRICES, "idle_grace_minutes", "periods")
    return {name: fields[name] for name in names} | {"periods": fields["periods"] or []}


def tariff_applicable(*, station_pk: int, at: datetime) -> Tariff | None:
    """A station-specific tariff beats the network default; the newest wins."""
    valid = Tariff.objects.filter(
        Q(is_active=True),
        Q(valid_from__isnull=True) | Q(valid_from__lte=at),
        Q(valid_to__isnull=True) | Q(valid_to__gt=at),
    )
    return (
        valid.filter(stations=station_pk).order_by("-created_at", "-id").first()
        or valid.filter(stations=None).order_by("-created_at", "-id").first()
    )


def tariff_snapshot(tariff: Tariff) -> dict:
    """The prices a session keeps. Raises PricingError for a tariff stored unvalidated."""
    prices = TariffSnapshot.from_dict(_pricing_fields(tariff_fields(tariff)))
    return prices.to_dict() | {"tariff_id": tariff.pk, "name": tariff.name}


@db_transaction.atomic
def tariff_create(*, data: Mapping[str, Any]) -> Tariff:
    """`data`: tariff fields (see tariff_validate); `stations` a list of Station objects.

    Raises Invalid."""
    data = dict(data)
    stations = data.pop("stations", [])
    tariff = Tariff.objects.create(**tariff_validate(data=data))
    tariff.stations.set(stations)
    return tariff


def tariff_save(*, tariff: Tariff) -> Tariff:
    """Validate the fields set on `tariff` (a form's instance, say) and save it; Invalid if bad."""
    for field, value in tariff_validate(data=tariff_fields(tariff)).items():
        setattr(tariff, field, value)
    tariff.save()
    return tariff


@db_transaction.atomic
def tariff_update(*, tariff: Tariff, data: Mapping[str, Any]) -> Tariff:
    """Change some fields of a tariff; the whole result is validated (Invalid).

    Sessions already created keep the prices of their snapshot; the ones it
    left unpriced are for `billing.sessions.sessions_reprice`."""
    data = dict(data)
    stations = data.pop("stations", None)
    cleaned = tariff_validate(data=tariff_fields(tariff) | data)
    for field, value in cleaned.items():
        setattr(tariff, field, value)
    tariff.save()
    if stations is not None:
        tariff.stations.set(stations)
    return tariff


def tariff_delete(*, tariff: Tariff) -> bool:
    """Delete a tariff no session used; archive one that was used. True if archived."""
    if not Session.objects.filter(tariff=tariff).exists():
        try:
            with db_transaction.atomic():
                tariff.delete()
            return False
        except ProtectedError:
            pass  # a session picked it up meanwhile
    Tariff.objects.filter(pk=tariff.pk).update(is_active=False)
    tariff.is_active = False
    return True


def snapshot_prices(snapshot: dict) -> TariffSnapshot:
    return TariffSnapshot.from_dict({k: v for k, v in snapshot.items() if k not in ("tariff_id", "name")})
