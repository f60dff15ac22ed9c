"""Local authorisation lists: the list we want a station to hold, and what it accepted.

`entries` is the desired list, `accepted_entries` the list the station holds
at `version` (the last listVersion it accepted). A sync sends SendLocalList:
Full (every entry) or Differential (what changed since the accepted version,
removals as entries without idTagInfo, OCPP 1.6 §5.15). The command-result
hook records accepted lists, also those sent through `send_command`.
"""

from dataclasses import dataclass
from datetime import datetime

from evpower.clock import utcnow
from ocpp_gateway import commands
from stations.models import LocalAuthList, Station

FULL = "Full"
DIFFERENTIAL = "Differential"


@dataclass(frozen=True)
class SyncResult:
    status: str
    update_type: str
    list_version: int
    local_list: LocalAuthList


# Selectors -------------------------------------------------------------------


def local_list_get(*, station: Station) -> LocalAuthList:
    """The station's list; an empty, unsaved one when it has none yet."""
    return LocalAuthList.objects.filter(station=station).first() or LocalAuthList(station=station)


def local_list_pending(*, local_list: LocalAuthList) -> list[dict]:
    """What a Differential sync would send: [{"idTag", "idTagInfo"?}], removals without idTagInfo."""
    accepted = local_list.accepted_entries or {}
    desired = local_list.entries or {}
    changes = [
        {"idTag": tag, "idTagInfo": info}
        for tag, info in sorted(desired.items())
        if accepted.get(tag) != info
    ]
    changes += [{"idTag": tag} for tag in sorted(accepted) if tag not in desired]
    return changes


def local_list_default_update_type(*, local_list: LocalAuthList) -> str:
    """Differential once the station accepted a list we know and still reports it; else Full."""
    known = local_list.version > 0 and local_list.accepted_entries is not None
    agrees = local_list.reported_version in (None, local_list.version)
    return DIFFERENTIAL if known and agrees else FULL


# Services --------------------------------------------------------------------


def local_list_replace(*, station: Station, entries: dict[str, dict]) -> LocalAuthList:
    """Set the desired list (id_tag -> idTagInfo); nothing is sent until a sync."""
    local_list, _ = LocalAuthList.objects.update_or_create(station=station, defaults={"entries": entries})
    return local_list


def local_list_sync(*, station: Station, update_type: str | None = None) -> SyncResult:
    """Send SendLocalList with the next version; the version counts once accepted.

    Raises CommandFailed."""

    local_list, _ = LocalAuthList.objects.get_or_create(station=station)
    update_type = update_type or local_list_default_update_type(local_list=local_list)
    # Above whatever the station last reported, so a Differential is never
    # refused for a version it already holds.
    list_version = max(local_list.version, local_list.reported_version or 0) + 1
    if update_type == FULL:
        items = [{"idTag": tag, "idTagInfo": info} for tag, info in sorted(local_list.entries.items())]
    else:
        items = local_list_pending(local_list=local_list)
    payload = {"listVersion": list_version, "localAuthorizationList": items, "updateType": update_type}
    response = commands.station_command(station=station, action="SendLocalList", payload=payload)
    status = str(response.get("status", ""))
    local_list.refresh_from_db()
    if status == "Accepted" and local_list.version != list_version:  # the hook normally did it
        local_list_accepted(station_pk=station.pk, request=payload, now=utcnow())
        local_list.refresh_from_db()
    return SyncResult(status, update_type, list_version, local_list)


# Applied from station answers (the command-result hook) ----------------------


def local_list_accepted(*, station_pk: int, request: dict, now: datetime) -> None:
    """The station accepted a SendLocalList: it holds that version and list now."""
    local_list = LocalAuthList.objects.select_for_update().filter(station_id=station_pk).first()
    created = local_list is None
    if created:
        local_list = LocalAuthList(station_id=station_pk)
    items = request.get("localAuthorizationList") or []
    if request.get("updateType") == FULL:
        accepted = {}
    elif local_list.accepted_entries is None and not created:
        accepted = None  # a difference to a list we do not know: still unknown
    else:
        accepted = dict(local_list.accepted_entries or {})
    if accepted is not None:
        for item in items:
            if item.get("idTagInfo") is not None:
                accepted[item["idTag"]] = item["idTagInfo"]
            else:
                accepted.pop(item["idTag"], None)
    local_list.accepted_entries = accepted
    local_list.version = request["listVersion"]
    local_list.reported_version = request["listVersion"]
    local_list.synced_at = now
    if created:
        # A list sent by hand to a station we had none for becomes the
        # desired list, or the next sync would take it all away again.
        local_list.entries = dict(accepted or {})
    local_list.save()


def local_list_version_reported(*, station_pk: int, list_version: int) -> None:
    """GetLocalListVersion answered: remember it, so a mismatch forces a Full sync."""
    LocalAuthList.objects.filter(station_id=station_pk).update(reported_version=list_version)
