"""Station services: registration, boot, status, id-tag authorisation, events.

Called by the OCPP gateway (on its writer thread, inside a group commit) and
by the API.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.contrib.auth.hashers import check_password
from django.db.models import Q

from stations.models import (
    Connector,
    DataTransferRecord,
    IdTag,
    IdTagStatus,
    RegistrationStatus,
    Station,
    StationEvent,
    StatusRecord,
)


@dataclass(frozen=True)
class StationRef:
    """What a connection needs to know about its station."""

    pk: int
    station_id: str
    password_hash: str
    registration_status: str

    @property
    def group_name(self) -> str:
        return f"ocpp.station.{self.pk}"


def _ref(station: Station) -> StationRef:
    return StationRef(station.pk, station.station_id, station.password_hash, station.registration_status)


def station_for_connection(*, station_id: str, unknown_policy: str) -> StationRef | None:
    """The station connecting now; unknown ids registered per policy, or None (refuse)."""
    station = Station.objects.filter(station_id=station_id).first()
    if station is None:
        if unknown_policy == "reject":
            return None
        status = RegistrationStatus.PENDING if unknown_policy == "pending" else RegistrationStatus.ACCEPTED
        station, _ = Station.objects.get_or_create(
            station_id=station_id, defaults={"registration_status": status}
        )
    return _ref(station)


@lru_cache(maxsize=50_000)
def station_password_ok(password_hash: str, raw: str) -> bool:
    """Check a station's Basic-auth password. Cached: the hash is deliberately
    slow, and a fleet reconnecting after a restart must not pay it each time."""
    return check_password(raw, password_hash)


def station_boot(*, station_pk: int, info: dict, now: datetime) -> str:
    """Store boot info; return the BootNotification status for the registration state."""
    fields = {
        "vendor": info.get("chargePointVendor", ""),
        "model": info.get("chargePointModel", ""),
        "serial_number": info.get("chargePointSerialNumber", ""),
        "charge_box_serial_number": info.get("chargeBoxSerialNumber", ""),
        "firmware_version": info.get("firmwareVersion", ""),
        "iccid": info.get("iccid", ""),
        "imsi": info.get("imsi", ""),
        "meter_type": info.get("meterType", ""),
        "meter_serial_number": info.get("meterSerialNumber", ""),
        "last_boot_at": now,
        "last_seen": now,
    }
    Station.objects.filter(pk=station_pk).update(**fields)
    status = Station.objects.values_list("registration_status", flat=True).get(pk=station_pk)
    return {
        RegistrationStatus.ACCEPTED: "Accepted",
        RegistrationStatus.PENDING: "Pending",
    }.get(status, "Rejected")


def connector_status_record(*, batch, station_pk: int, payload: dict, timestamp, now: datetime) -> None:
    values = {
        "status": payload["status"],
        "error_code": payload["errorCode"],
        "info": payload.get("info", ""),
        "vendor_id": payload.get("vendorId", ""),
        "vendor_error_code": payload.get("vendorErrorCode", ""),
    }
    connector_id = payload["connectorId"]
    Connector.objects.update_or_create(
        station_id=station_pk,
        connector_id=connector_id,
        defaults={**values, "status_timestamp": timestamp or now},
    )
    batch.add(
        StatusRecord(
            station_id=station_pk, connector_id=connector_id, timestamp=timestamp, received_at=now, **values
        )
    )


def station_event_record(*, station_pk: int, kind: str, status: str, now: datetime) -> None:
    field = "firmware" if kind == StationEvent.Kind.FIRMWARE else "diagnostics"
    Station.objects.filter(pk=station_pk).update(**{f"{field}_status": status, f"{field}_status_at": now})
    StationEvent.objects.create(station_id=station_pk, kind=kind, status=status, received_at=now)


# Vendor handlers for incoming DataTransfer: vendor_id -> callable(station_pk,
# message_id, data) returning (status, data). None registered by default.
DATA_TRANSFER_HANDLERS: dict = {}


def data_transfer_record(*, station_pk: int, payload: dict, now: datetime) -> dict:
    vendor_id = payload["vendorId"]
    handler = DATA_TRANSFER_HANDLERS.get(vendor_id)
    response = {"status": "UnknownVendorId"}
    if handler is not None:
        status, data = handler(
            station_pk=station_pk, message_id=payload.get("messageId", ""), data=payload.get("data")
        )
        response = {"status": status, **({"data": data} if data is not None else {})}
    DataTransferRecord.objects.create(
        station_id=station_pk,
        vendor_id=vendor_id,
        message_id=payload.get("messageId", ""),
        data=payload.get("data", "") or "",
        status=response["status"],
        received_at=now,
    )
    return response


def id_tag_info(*, id_tag: str, now: datetime) -> dict:
    """The OCPP idTagInfo of a tag from the id-tag table (no ConcurrentTx check)."""
    tag = IdTag.objects.filter(id_tag__iexact=id_tag).first()  # CiString: case-insensitive
    if tag is None:
        return {"status": IdTagStatus.INVALID.value}
    status = tag.status
    if status == IdTagStatus.ACCEPTED and tag.expiry_date and tag.expiry_date <= now:
        status = IdTagStatus.EXPIRED
    info = {"status": str(status)}
    if tag.expiry_date:
        info["expiryDate"] = tag.expiry_date.isoformat().replace("+00:00", "Z")
    if tag.parent_id_tag:
        info["parentIdTag"] = tag.parent_id_tag
    return info


def id_tag_owner_id(*, id_tag: str) -> int | None:
    return IdTag.objects.filter(id_tag__iexact=id_tag).values_list("owner_id", flat=True).first()


def stations_last_seen_update(*, seen: dict[str, datetime]) -> None:
    # One UPDATE per distinct second keeps this to a handful of statements
    # even for thousands of stations.
    by_time: dict[datetime, list[str]] = {}
    for station_id, ts in seen.items():
        by_time.setdefault(ts.replace(microsecond=0), []).append(station_id)
    for ts, ids in by_time.items():
        Station.objects.filter(Q(station_id__in=ids) & (Q(last_seen__lt=ts) | Q(last_seen=None))).update(
            last_seen=ts
        )


def id_tag_authorize(*, station_pk: int, id_tag: str, now: datetime) -> dict:
    """Authorize: the tag's idTagInfo."""
    return id_tag_info(id_tag=id_tag, now=now)
