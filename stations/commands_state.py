"""State kept from the answers stations give to central-system commands.

The gateway calls `command_result_apply` after a CALLRESULT to a command
that `command_result_recorded` names, in the process holding the station's
socket, on its writer thread inside a group commit, before the caller gets
the answer (a read right after `send_command` sees the new state). Commands sent through
`send_command` arrive here too, with whatever payload the operator sent, so
stored state follows what the station really accepted.
"""

from collections.abc import Callable

from evpower.clock import utcnow
from stations import charging_profiles, local_lists, reservations
from stations.models import AvailabilityRequest, Station


def command_result_apply(*, batch, station_pk: int, action: str, request: dict, response: dict) -> None:
    """Apply an answered command to what we know of the station (configuration
    changes with the commit's others, see `Configurations`)."""
    if not (isinstance(request, dict) and isinstance(response, dict)):
        return
    configuration_change = _CONFIGURATION_CHANGES.get(action)
    if configuration_change is not None:
        change = configuration_change(request=request, response=response)
        if change is not None:
            configurations = batch.state(Configurations)
            configurations.changes.append((station_pk, change))
            if action == "GetConfiguration" and not request.get("key"):
                configurations.whole.add(station_pk)
        return
    handler = _HANDLERS.get(action)
    if handler is not None:
        handler(station_pk=station_pk, request=request, response=response)


def command_result_recorded(action: str) -> bool:
    """Whether an answer to `action` may change what we keep of the station
    (the others need no trip to the writer thread before the caller's answer)."""
    return action in _HANDLERS or action in _CONFIGURATION_CHANGES


def _status(response: dict) -> str:
    return str(response.get("status", ""))


# Configuration -----------------------------------------------------------------

# What an answer does to a station's known configuration: new from old.
ConfigurationChange = Callable[[dict], dict]


class Configurations:
    """The configuration answers of one commit, applied with one read.

    A fleet of new stations (or one whose firmware changed) answers
    thousands at once, and one locked read each kept the single writer
    thread waiting on a round trip per station."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, ConfigurationChange]] = []
        # Stations that answered with their whole configuration: known again.
        self.whole: set[int] = set()

    def flush(self, batch) -> None:
        # Locked (in pk order, as every writer locks stations) so that an
        # operator's edit cannot slip between our read and write. FOR NO KEY
        # UPDATE, as an UPDATE of these columns: FOR UPDATE would also stop
        # the rows that only reference a station (a meter sample committed
        # from the event loop meanwhile, which could then deadlock with us).
        stations = {
            station.pk: station
            for station in Station.objects.select_for_update(no_key=True)
            .filter(pk__in={pk for pk, _ in self.changes})
            .order_by("pk")
        }
        known = {pk: station.configuration or {} for pk, station in stations.items()}
        for station_pk, change in self.changes:
            if station_pk in known:  # else deleted meanwhile
                known[station_pk] = change(known[station_pk])
        for station_pk, configuration in known.items():
            station = stations[station_pk]
            changed = []
            if configuration != (station.configuration or {}):
                station.configuration = configuration
                changed.append("configuration")
            if station.configuration_stale and station_pk in self.whole:
                station.configuration_stale = False
                changed.append("configuration_stale")
            if changed:
                # Saved (not updated) so the audit trail records the change.
                station.save(update_fields=changed)


def _get_configuration(*, request: dict, response: dict) -> ConfigurationChange:
    """Asked without keys the answer is the whole configuration: it replaces
    ours. Asked for keys, those are updated and the unknown ones dropped."""
    answered = {
        item["key"]: {"value": item.get("value"), "readonly": bool(item.get("readonly", False))}
        for item in response.get("configurationKey") or []
    }
    if not request.get("key"):
        return lambda known: answered
    unknown = response.get("unknownKey") or []

    def change(known: dict) -> dict:
        configuration = {**known, **answered}
        for key in unknown:
            configuration.pop(key, None)
        return configuration

    return change


def _change_configuration(*, request: dict, response: dict) -> ConfigurationChange | None:
    status = _status(response)
    if status not in ("Accepted", "RebootRequired", "NotSupported"):
        return None  # Rejected: nothing changed
    key = request["key"]
    if status == "NotSupported":
        return lambda known: {k: v for k, v in known.items() if k != key}

    def change(known: dict) -> dict:
        entry = {"value": request["value"], "readonly": bool(known.get(key, {}).get("readonly", False))}
        if status == "RebootRequired":
            # The new value applies after the next reboot; a later
            # GetConfiguration replaces the entry and with it this flag.
            entry["reboot_required"] = True
        return {**known, key: entry}

    return change


_CONFIGURATION_CHANGES = {
    "GetConfiguration": _get_configuration,
    "ChangeConfiguration": _change_configuration,
}


# Availability ------------------------------------------------------------------


def _change_availability(*, station_pk: int, request: dict, response: dict) -> None:
    """Note the availability the station agreed to (now or when its transaction
    ends); its actual state still comes from StatusNotification."""
    status = _status(response)
    if status not in ("Accepted", "Scheduled"):
        return
    connector_id = request["connectorId"]
    if connector_id == 0:
        # Connector 0 is the whole station: it overrides per-connector requests.
        AvailabilityRequest.objects.filter(station_id=station_pk).exclude(connector_id=0).delete()
    AvailabilityRequest.objects.update_or_create(
        station_id=station_pk,
        connector_id=connector_id,
        defaults={"type": request["type"], "status": status, "requested_at": utcnow()},
    )


def station_availability_get(*, station_pk: int) -> dict[int, dict]:
    """Accepted availability requests by connector id: {"type", "status", "requested_at"}."""
    return {
        row.connector_id: {"type": row.type, "status": row.status, "requested_at": row.requested_at}
        for row in AvailabilityRequest.objects.filter(station_id=station_pk)
    }


# Reservations, charging profiles, local list -------------------------------------


def _reserve_now(*, station_pk: int, request: dict, response: dict) -> None:
    reservations.reservation_reserve_apply(station_pk=station_pk, request=request, response=response)


def _cancel_reservation(*, station_pk: int, request: dict, response: dict) -> None:
    if _status(response) == "Accepted":
        reservations.reservation_cancel_apply(station_pk=station_pk, reservation_id=request["reservationId"])


def _set_charging_profile(*, station_pk: int, request: dict, response: dict) -> None:
    if _status(response) == "Accepted":
        charging_profiles.installed_profile_record(
            station_pk=station_pk,
            connector_id=request["connectorId"],
            cs_profile=request["csChargingProfiles"],
            now=utcnow(),
        )


def _clear_charging_profile(*, station_pk: int, request: dict, response: dict) -> None:
    # Unknown: the station holds no profile matching these filters, so none
    # we recorded as matching is there either.
    if _status(response) in ("Accepted", "Unknown"):
        charging_profiles.installed_profiles_clear(station_pk=station_pk, request=request)


def _send_local_list(*, station_pk: int, request: dict, response: dict) -> None:
    if _status(response) == "Accepted":
        local_lists.local_list_accepted(station_pk=station_pk, request=request, now=utcnow())


def _get_local_list_version(*, station_pk: int, request: dict, response: dict) -> None:
    if isinstance(response.get("listVersion"), int):
        local_lists.local_list_version_reported(station_pk=station_pk, list_version=response["listVersion"])


_HANDLERS: dict = {
    "ChangeAvailability": _change_availability,
    "ReserveNow": _reserve_now,
    "CancelReservation": _cancel_reservation,
    "SetChargingProfile": _set_charging_profile,
    "ClearChargingProfile": _clear_charging_profile,
    "SendLocalList": _send_local_list,
    "GetLocalListVersion": _get_local_list_version,
}
