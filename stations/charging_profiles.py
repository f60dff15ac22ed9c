"""Charging profiles: stored OCPP profiles, installing them, and what stations hold.

What is installed follows the stations' answers: the command-result hook
(`stations.commands_state`) applies every accepted SetChargingProfile and
ClearChargingProfile, also those sent through `send_command`.
"""

import itertools
from datetime import datetime

from django.db.models import Q

from evpower.clock import utcnow
from ocpp16 import schemas
from ocpp16.errors import OCPPCallError
from ocpp16.times import format_time, parse_time
from ocpp_gateway import commands
from stations.models import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    InstalledChargingProfile,
    Station,
)


class ProfileNotApplicable(Exception):
    """The profile cannot be installed on that connector."""


def charging_profile_payload(
    *,
    charging_profile_id: int,
    purpose: str,
    stack_level: int,
    kind: str,
    schedule,
    recurrency_kind: str = "",
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    transaction_id: int | None = None,
) -> dict:
    """The OCPP csChargingProfiles object (camelCase) for these terms."""
    cs: dict = {"chargingProfileId": charging_profile_id}
    if transaction_id is not None:
        cs["transactionId"] = transaction_id
    cs["stackLevel"] = stack_level
    cs["chargingProfilePurpose"] = purpose
    cs["chargingProfileKind"] = kind
    if recurrency_kind:
        cs["recurrencyKind"] = recurrency_kind
    if valid_from is not None:
        cs["validFrom"] = format_time(valid_from)
    if valid_to is not None:
        cs["validTo"] = format_time(valid_to)
    cs["chargingSchedule"] = schedule
    return cs


def charging_profile_problem(cs_profile: dict) -> tuple[str, str] | None:
    """Why a csChargingProfiles object is not valid OCPP 1.6, as (message, the
    offending property's path), or None."""
    try:
        schemas.validate("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": cs_profile})
    except OCPPCallError as exc:
        return exc.description, str(exc.details.get("path", ""))
    kind = cs_profile["chargingProfileKind"]
    if kind == ChargingProfileKind.RECURRING and "recurrencyKind" not in cs_profile:
        return "A Recurring profile needs a recurrency kind (Daily or Weekly).", "recurrencyKind"
    if kind != ChargingProfileKind.RECURRING and "recurrencyKind" in cs_profile:
        return "A recurrency kind applies only to a Recurring profile.", "recurrencyKind"
    if (
        "validFrom" in cs_profile
        and "validTo" in cs_profile
        and parse_time(cs_profile["validFrom"]) >= parse_time(cs_profile["validTo"])
    ):
        return "valid_from must be before valid_to.", "validTo"
    schedule = cs_profile["chargingSchedule"]
    starts = [period["startPeriod"] for period in schedule["chargingSchedulePeriod"]]
    # OCPP 1.6 (ChargingSchedulePeriod): the first period starts at 0, the others in order.
    if starts[0] != 0:
        return "The first charging schedule period must start at 0.", "chargingSchedule"
    if any(later <= earlier for earlier, later in itertools.pairwise(starts)):
        return "Charging schedule periods must have increasing startPeriod values.", "chargingSchedule"
    return None


def charging_profile_cs(*, profile: ChargingProfile, transaction_id: int | None = None) -> dict:
    return charging_profile_payload(
        charging_profile_id=profile.charging_profile_id,
        purpose=profile.purpose,
        stack_level=profile.stack_level,
        kind=profile.kind,
        schedule=profile.schedule,
        recurrency_kind=profile.recurrency_kind,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        transaction_id=transaction_id,
    )


def charging_profile_install(
    *, station: Station, profile: ChargingProfile, connector_id: int, transaction_id: int | None = None
) -> tuple[dict, InstalledChargingProfile | None]:
    """Send SetChargingProfile; return the station's answer and, when accepted,
    what is now installed. Raises ProfileNotApplicable or CommandFailed."""

    if profile.purpose == ChargingProfilePurpose.CHARGE_POINT_MAX and connector_id != 0:
        raise ProfileNotApplicable("A ChargePointMaxProfile can only be set on connector 0.")
    cs_profile = charging_profile_cs(profile=profile, transaction_id=transaction_id)
    response = commands.station_command(
        station=station,
        action="SetChargingProfile",
        payload={"connectorId": connector_id, "csChargingProfiles": cs_profile},
    )
    if response.get("status") != "Accepted":
        return response, None
    installed = InstalledChargingProfile.objects.filter(
        station=station, connector_id=connector_id, charging_profile_id=profile.charging_profile_id
    ).first()
    if installed is None:  # the hook normally recorded it already
        installed = installed_profile_record(
            station_pk=station.pk, connector_id=connector_id, cs_profile=cs_profile, now=utcnow()
        )
    return response, installed


# Applied from station answers (the command-result hook) ----------------------


def installed_profile_record(
    *, station_pk: int, connector_id: int, cs_profile: dict, now: datetime
) -> InstalledChargingProfile:
    """The station accepted this profile on `connector_id`.

    OCPP 1.6 §5.16: it replaces a profile with the same chargingProfileId on
    the station, and one with the same stack level and purpose on the connector."""
    profile_id = cs_profile["chargingProfileId"]
    purpose = cs_profile["chargingProfilePurpose"]
    stack_level = cs_profile["stackLevel"]
    InstalledChargingProfile.objects.filter(station_id=station_pk).filter(
        Q(charging_profile_id=profile_id)
        | Q(connector_id=connector_id, purpose=purpose, stack_level=stack_level)
    ).exclude(connector_id=connector_id, charging_profile_id=profile_id).delete()
    installed, _ = InstalledChargingProfile.objects.update_or_create(
        station_id=station_pk,
        connector_id=connector_id,
        charging_profile_id=profile_id,
        defaults={"purpose": purpose, "stack_level": stack_level, "profile": cs_profile, "installed_at": now},
    )
    return installed


def installed_profiles_clear(*, station_pk: int, request: dict) -> int:
    """The station cleared profiles per a ClearChargingProfile request; return how many we drop.

    OCPP 1.6 §5.5: an `id` names one profile (other fields ignored); otherwise
    connectorId, purpose and stackLevel each narrow the selection, none = all."""
    qs = InstalledChargingProfile.objects.filter(station_id=station_pk)
    if request.get("id") is not None:
        qs = qs.filter(charging_profile_id=request["id"])
    else:
        if request.get("connectorId") is not None:
            qs = qs.filter(connector_id=request["connectorId"])
        if request.get("chargingProfilePurpose") is not None:
            qs = qs.filter(purpose=request["chargingProfilePurpose"])
        if request.get("stackLevel") is not None:
            qs = qs.filter(stack_level=request["stackLevel"])
    deleted, _ = qs.delete()
    return deleted


def tx_profiles_drop(*, station_pk: int, connector_id: int) -> None:
    """The transaction on this connector ended: a TxProfile lives only as long
    as its transaction (OCPP 1.6 §3.13.3)."""
    InstalledChargingProfile.objects.filter(
        station_id=station_pk, connector_id=connector_id, purpose=ChargingProfilePurpose.TX
    ).delete()
