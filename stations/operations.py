"""Commands to stations from the back office, one or many at once, each
station's answer told apart: accepted, rejected, offline (nothing sent),
timeout (sent, no answer) or station error (CALLERROR)."""

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from asgiref.sync import async_to_sync

from evpower.admin_kit import ACCEPTED, OFFLINE, REJECTED, STATION_ERROR, TIMEOUT
from evpower.errors import DomainError
from ocpp_gateway import commands, presence
from stations.models import Station

# Answers that mean the station does (or will do) what it was asked.
_YES = {"Accepted", "Scheduled", "Unlocked", "RebootRequired"}


@dataclass(frozen=True)
class Outcome:
    target: str  # the station (or session, transaction) the command was for
    result: str  # one of ACCEPTED, REJECTED, OFFLINE, TIMEOUT, STATION_ERROR
    detail: str = ""
    response: dict | None = None


def outcome_of_reply(target: str, response) -> Outcome:
    """The outcome of a station's CALLRESULT: by its `status`, accepted when it has none."""
    status = response.get("status") if isinstance(response, dict) else None
    if status is None:
        return Outcome(target, ACCEPTED, "", response)
    return Outcome(target, ACCEPTED if status in _YES else REJECTED, status, response)


def outcome_of_failure(target: str, exc: commands.CommandFailed) -> Outcome:
    if exc.reason == commands.NOT_CONNECTED:
        return Outcome(target, OFFLINE)
    if exc.reason == commands.STATION_ERROR:
        return Outcome(target, STATION_ERROR, f"{exc.error_code}: {exc.error_description}".strip(": "))
    if exc.reason == commands.DISCONNECTED:
        return Outcome(target, TIMEOUT, "disconnected before answering")
    return Outcome(target, TIMEOUT)


def error_text(exc: DomainError) -> str:
    """A refusal's text for staff: its field messages, else its detail."""
    fields = getattr(exc, "fields", None)
    if fields:
        return "; ".join(f"{name}: {' '.join(map(str, problems))}" for name, problems in fields.items())
    return exc.detail


def outcome_of_call(target: str, call: Callable[[], dict | None], *, nothing_sent: str = "") -> Outcome:
    """The outcome of a service that sends a command (reserve, remote start/stop):
    the station's reply, its failure, or the service's refusal before sending.
    A None reply means the service did its work without a message (`nothing_sent`)."""
    try:
        response = call()
    except commands.CommandFailed as exc:
        return outcome_of_failure(target, exc)
    except DomainError as exc:
        return Outcome(target, REJECTED, error_text(exc))
    if response is None:
        return Outcome(target, ACCEPTED, nothing_sent)
    return outcome_of_reply(target, response)


def stations_command(
    *, stations: Iterable[Station], action: str, payload: dict | Callable[[Station], dict]
) -> list[Outcome]:
    """Send `action` to every station at once and wait for all the answers.

    `payload` may depend on the station. Offline stations (by live presence,
    asked once for all) are reported without a message being sent."""
    stations = list(stations)
    online = {entry["station_id"] for entry in presence.connections()}
    build = payload if callable(payload) else (lambda station: payload)

    async def one(station: Station) -> Outcome:
        if station.station_id not in online:
            return Outcome(station.station_id, OFFLINE)
        try:
            response = await commands.command_send(station=station, action=action, payload=build(station))
        except commands.CommandFailed as exc:
            return outcome_of_failure(station.station_id, exc)
        return outcome_of_reply(station.station_id, response)

    async def all_of_them() -> list[Outcome]:
        return list(await asyncio.gather(*(one(station) for station in stations)))

    return async_to_sync(all_of_them)() if stations else []
