"""State kept from the answers stations give to central-system commands.

The gateway calls `command_result_apply` after a CALLRESULT to a command
that `command_result_recorded` names, in the process holding the station's
socket, on its writer thread inside a transaction, before the caller gets the
answer (a read right after `send_command` sees the new state). Commands sent through
`send_command` arrive here too, with whatever payload the operator sent, so
stored state follows what the station really accepted.
"""

from evpower.clock import utcnow
from stations import charging_profiles, local_lists, reservations
from stations.models import AvailabilityRequest, Station


def command_result_apply(*, station_pk: int, action: str, request: dict, response: dict) -> None:
    """Apply an answered command to what we know of the station."""
    handler = _HANDLERS.get(action)
    if handler is not None and isinstance(request, dict) and isinstance(response, dict):
        handler(station_pk=station_pk, request=request, response=response)


def command_result_recorded(action: str) -> bool:
    """Whether an answer to `action` may change what we keep of the station
    (the others need no trip to the writer thread before the caller's answer)."""
    return action in _HANDLERS


def _status(response: dict) -> str:
    return str(response.get("status", ""))


# Configuration -----------------------------------------------------------------


def _get_configuration(*, station_pk: int, request: dict, response: dict) -> None:
    """Asked without keys the answer is the whole configuration: it replaces
    ours. Asked for keys, those are updated and the unknown ones dropped."""
    station = Station.objects.select_for_update().filter(pk=station_pk).first()
    if station is None:
        return
    known = {
        item["key"]: {"value": item.get("value"), "readonly": bool(item.get("readonly", False))}
        for item in response.get("configurationKey") or []
    }
    if not request.get("key"):
        configuration = known
    else:
        configuration = dict(station.configuration or {})
        configuration.update(known)
        for key in response.get("unknownKey") or []:
            configuration.pop(key, None)
    if configuration == station.configuration:
        # Asked after every boot: a fleet rebooting (a server restart) mostly
        # answers what we know, which needs no write and no history record.
        return
    station.configuration = configuration
    station.save(update_fields=["configuration"])


def _change_configuration(*, station_pk: int, request: dict, response: dict) -> None:
    status = _status(response)
    if status not in ("Accepted", "RebootRequired", "NotSupported"):
        return  # Rejected: nothing changed
    station = Station.objects.select_for_update().filter(pk=station_pk).first()
    if station is None:
        return
    configuration = dict(station.configuration or {})
    key = request["key"]
    if status == "NotSupported":
        configuration.pop(key, None)
    else:
        entry = {
            "value": request["value"],
            "readonly": bool(configuration.get(key, {}).get("readonly", False)),
        }
        if status == "RebootRequired":
            # The new value applies after the next reboot; a later
            # GetConfiguration replaces the entry and with it this flag.
            entry["reboot_required"] = True
        configuration[key] = entry
    station.configuration = configuration
    station.save(update_fields=["configuration"])


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
    "GetConfiguration": _get_configuration,
    "ChangeConfiguration": _change_configuration,
    "ChangeAvailability": _change_availability,
    "ReserveNow": _reserve_now,
    "CancelReservation": _cancel_reservation,
    "SetChargingProfile": _set_charging_profile,
    "ClearChargingProfile": _clear_charging_profile,
    "SendLocalList": _send_local_list,
    "GetLocalListVersion": _get_local_list_version,
}
