"""Charging profiles the station holds, and the composite schedule they make (OCPP 1.6 §3.13)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from .meter import amps_from_watts, watts_from_amps

RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}


@dataclass
class Installed:
    connector_id: int
    profile: dict  # csChargingProfiles, camelCase as received


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def clear_matches(
    installed: Installed, *, profile_id=None, connector_id=None, purpose=None, stack_level=None
):
    """Whether ClearChargingProfile with these filters removes `installed`."""
    profile = installed.profile
    if profile_id is not None:
        return profile["chargingProfileId"] == profile_id
    return (
        (connector_id is None or installed.connector_id == connector_id)
        and (purpose is None or profile["chargingProfilePurpose"] == purpose)
        and (stack_level is None or profile["stackLevel"] == stack_level)
    )


def _schedule_start(profile: dict, at: datetime, tx_start: datetime | None) -> datetime:
    schedule = profile["chargingSchedule"]
    start = parse_time(schedule.get("startSchedule"))
    kind = profile["chargingProfileKind"]
    if kind == "Relative":
        return tx_start or at
    if kind == "Recurring" and start is not None:
        period = RECURRENCE.get(profile.get("recurrencyKind"), timedelta(days=1))
        return start + ((at - start) // period) * period
    return start or at


def _limit_w(profile: dict, at: datetime, tx_start: datetime | None) -> float | None:
    """The profile's limit in W at `at`, or None when it does not apply then."""
    valid_from, valid_to = parse_time(profile.get("validFrom")), parse_time(profile.get("validTo"))
    if (valid_from and at < valid_from) or (valid_to and at >= valid_to):
        return None
    schedule = profile["chargingSchedule"]
    offset = (at - _schedule_start(profile, at, tx_start)).total_seconds()
    duration = schedule.get("duration")
    if offset < 0 or (duration is not None and offset >= duration):
        return None
    limit = None
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] <= offset:
            limit = period["limit"]
            phases = period.get("numberPhases", 3)
    if limit is None:
        return None
    return watts_from_amps(limit, phases) if schedule["chargingRateUnit"] == "A" else float(limit)


def limit_w(
    profiles: list[Installed], *, connector_id: int, at: datetime, tx_start: datetime | None, max_w: float
) -> float:
    """The power the connector may draw at `at`: the lowest of the station maximum and the
    highest-stack transaction (else default) profile in force."""

    def top(purpose: str, connectors: tuple[int, ...]) -> float | None:
        candidates = []
        for item in profiles:
            if item.connector_id in connectors and item.profile["chargingProfilePurpose"] == purpose:
                value = _limit_w(item.profile, at, tx_start)
                if value is not None:
                    # A connector's own profile beats one for the whole station at the same level.
                    candidates.append((item.profile["stackLevel"], item.connector_id != 0, value))
        return max(candidates)[2] if candidates else None

    limits = [max_w, top("ChargePointMaxProfile", (0,))]
    tx = top("TxProfile", (connector_id,)) if tx_start is not None else None
    limits.append(tx if tx is not None else top("TxDefaultProfile", (connector_id, 0)))
    return min(value for value in limits if value is not None)


def composite(
    profiles: list[Installed],
    *,
    connector_id: int,
    now: datetime,
    duration: int,
    unit: str,
    tx_start: datetime | None,
    max_w: float,
) -> dict:
    """The GetCompositeSchedule `chargingSchedule` for the next `duration` seconds."""
    boundaries = {0}
    for item in profiles:
        schedule = item.profile["chargingSchedule"]
        start = _schedule_start(item.profile, now, tx_start)
        offsets = [p["startPeriod"] for p in schedule["chargingSchedulePeriod"]]
        if schedule.get("duration") is not None:
            offsets.append(schedule["duration"])
        for offset in offsets:
            at = (start - now).total_seconds() + offset
            if 0 < at < duration:
                boundaries.add(int(at))
    periods: list[dict] = []
    for offset in sorted(boundaries):
        watts = limit_w(
            profiles,
            connector_id=connector_id,
            at=now + timedelta(seconds=offset),
            tx_start=tx_start,
            max_w=max_w,
        )
        limit = round(amps_from_watts(watts) if unit == "A" else watts, 1)
        if not periods or periods[-1]["limit"] != limit:
            periods.append({"startPeriod": offset, "limit": limit})
    return {
        "duration": duration,
        "startSchedule": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
