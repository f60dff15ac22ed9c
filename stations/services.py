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


# Management API ---------------------------------------------------------------
# (Imported here, beside the functions that need them, to leave the gateway's
# part of this module untouched.)
import logging  # noqa: E402
from datetime import timedelta  # noqa: E402

from asgiref.sync import async_to_sync  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import IntegrityError, transaction  # noqa: E402
from django.db.models import ProtectedError, RestrictedError  # noqa: E402

from ocpp_gateway.conf import gateway_settings  # noqa: E402
from stations.models import MessageLog  # noqa: E402

logger = logging.getLogger(__name__)


class StationIdTaken(Exception):
    """Another station already has this id."""


class StationInUse(Exception):
    """The station has billing history (transactions, sessions) and cannot be deleted."""


class IdTagTaken(Exception):
    """Another tag already has this id (case-insensitively: OCPP's CiString)."""


def station_create(
    *,
    station_id: str,
    password: str | None = None,
    registration_status: str = RegistrationStatus.ACCEPTED,
    time_zone: str | None = None,
    vendor: str = "",
    model: str = "",
    serial_number: str = "",
) -> Station:
    """Register a station; raises StationIdTaken."""
    station = Station(
        station_id=station_id,
        registration_status=registration_status,
        time_zone=time_zone or settings.STATION_TIME_ZONE,
        vendor=vendor,
        model=model,
        serial_number=serial_number,
    )
    station.set_password(password)
    try:
        with transaction.atomic():
            station.save()
    except IntegrityError as exc:
        raise StationIdTaken(station_id) from exc
    return station


STATION_EDITABLE = ("registration_status", "time_zone", "vendor", "model", "serial_number")


def station_update(*, station: Station, data: dict) -> Station:
    """Change a station's settings. `password` None or "" clears it; absent keeps it."""
    fields = [name for name in STATION_EDITABLE if name in data]
    for name in fields:
        setattr(station, name, data[name])
    if "password" in data:
        station.set_password(data["password"])
        fields.append("password_hash")
    if fields:
        station.save(update_fields=fields)
    return station


def station_delete(*, station: Station) -> None:
    """Delete a station and drop its live connection; raises StationInUse.

    A socket left open would keep writing rows for a primary key that no
    longer exists, so the connection is closed once the delete is committed.
    """
    group_name = station.group_name
    try:
        with transaction.atomic():
            station.delete()
            transaction.on_commit(lambda: _station_disconnect(group_name=group_name))
    except (ProtectedError, RestrictedError) as exc:
        raise StationInUse(station.station_id) from exc


def _station_disconnect(*, group_name: str) -> None:
    # The consumer's "replaced" event closes every connection of the group
    # whose channel differs from the one named: with none named, all of them.
    try:
        async_to_sync(get_channel_layer().group_send)(group_name, {"type": "ocpp.replaced", "channel": ""})
    except Exception:
        logger.warning("Could not disconnect %s", group_name, exc_info=True)


ID_TAG_EDITABLE = ("id_tag", "owner", "status", "expiry_date", "parent_id_tag")


def _id_tag_taken(id_tag: str, exclude_pk: int | None = None) -> bool:
    return IdTag.objects.filter(id_tag__iexact=id_tag).exclude(pk=exclude_pk).exists()


def id_tag_create(
    *,
    id_tag: str,
    owner=None,
    status: str = IdTagStatus.ACCEPTED,
    expiry_date: datetime | None = None,
    parent_id_tag: str = "",
) -> IdTag:
    """Add an id tag; raises IdTagTaken."""
    if _id_tag_taken(id_tag):
        raise IdTagTaken(id_tag)
    try:
        with transaction.atomic():
            return IdTag.objects.create(
                id_tag=id_tag,
                owner=owner,
                status=status,
                expiry_date=expiry_date,
                parent_id_tag=parent_id_tag or "",
            )
    except IntegrityError as exc:
        raise IdTagTaken(id_tag) from exc


def id_tag_update(*, tag: IdTag, data: dict) -> IdTag:
    """Change an id tag (its id too); raises IdTagTaken."""
    if "id_tag" in data and _id_tag_taken(data["id_tag"], exclude_pk=tag.pk):
        raise IdTagTaken(data["id_tag"])
    fields = [name for name in ID_TAG_EDITABLE if name in data]
    for name in fields:
        value = data[name]
        setattr(tag, name, "" if name == "parent_id_tag" and value is None else value)
    if fields:
        try:
            with transaction.atomic():
                tag.save(update_fields=fields)
        except IntegrityError as exc:
            raise IdTagTaken(tag.id_tag) from exc
    return tag


def id_tag_delete(*, tag: IdTag) -> None:
    # Transactions keep the tag as a string: deleting it loses no history.
    tag.delete()


MESSAGE_LOG_PRUNE_CHUNK = 5_000


def message_log_prune(*, now: datetime, days: int | None = None) -> int:
    """Delete message-log rows older than `days` (default OCPP_MESSAGE_LOG_DAYS).

    Deletes in chunks, each its own short transaction, so pruning a huge
    backlog never holds long locks against the gateway's inserts. Returns the
    number of rows deleted.
    """
    if days is None:
        days = int(gateway_settings.MESSAGE_LOG_DAYS)
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            MessageLog.objects.filter(created_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:MESSAGE_LOG_PRUNE_CHUNK]
        )
        if not ids:
            return deleted
        count, _ = MessageLog.objects.filter(pk__in=ids).delete()
        deleted += count
