"""What a station reports about itself: boot info, connector status, firmware
and diagnostics events, DataTransfer. Called by the gateway on its writer
thread, inside a group commit."""

from datetime import datetime

from django.db.models import QuerySet

from stations.models import (
    Connector,
    DataTransferRecord,
    RegistrationStatus,
    Station,
    StationEvent,
    StatusRecord,
)


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


# The columns of StatusRecord's rows, as connector_status_record gives them.
_STATUS_RECORD_COLUMNS = (
    "station_id",
    "connector_id",
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "timestamp",
    "received_at",
)
_CONNECTOR_FIELDS = (
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "status_timestamp",
    "updated_at",
)


class ConnectorStatuses:
    """Each connector's latest status in one commit, written with one upsert."""

    def __init__(self) -> None:
        self.latest: dict[tuple[int, int], Connector] = {}

    def flush(self, batch) -> None:
        Connector.objects.bulk_create(
            list(self.latest.values()),
            update_conflicts=True,
            unique_fields=("station", "connector_id"),
            update_fields=_CONNECTOR_FIELDS,
        )


def connector_status_record(*, batch, station_pk: int, payload: dict, timestamp, now: datetime) -> None:
    """The connector's status (written with the commit's others) and its history row."""
    connector_id = payload["connectorId"]
    status, error_code = payload["status"], payload["errorCode"]
    info = payload.get("info", "")
    vendor_id, vendor_error_code = payload.get("vendorId", ""), payload.get("vendorErrorCode", "")
    batch.state(ConnectorStatuses).latest[(station_pk, connector_id)] = Connector(
        station_id=station_pk,
        connector_id=connector_id,
        status=status,
        error_code=error_code,
        info=info,
        vendor_id=vendor_id,
        vendor_error_code=vendor_error_code,
        status_timestamp=timestamp or now,
    )
    batch.insert_values(
        StatusRecord,
        _STATUS_RECORD_COLUMNS,
        (station_pk, connector_id, status, error_code, info, vendor_id, vendor_error_code, timestamp, now),
    )


# Event kinds that also set the station's latest firmware or diagnostics status.
_LATEST_STATUS_FIELD = {
    StationEvent.Kind.FIRMWARE: "firmware",
    StationEvent.Kind.SIGNED_FIRMWARE: "firmware",
    StationEvent.Kind.DIAGNOSTICS: "diagnostics",
}
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def station_event_record(
    *,
    station_pk: int,
    kind: str,
    status: str,
    now: datetime,
    timestamp: datetime | None = None,
    request_id: int | None = None,
    detail: str = "",
) -> None:
    """Keep an event in the station's history (and its latest firmware or diagnostics status).

    A requestId no database integer holds is kept only in the message log."""
    field = _LATEST_STATUS_FIELD.get(kind)
    if field is not None:
        Station.objects.filter(pk=station_pk).update(**{f"{field}_status": status, f"{field}_status_at": now})
    StationEvent.objects.create(
        station_id=station_pk,
        kind=kind,
        status=status,
        timestamp=timestamp,
        request_id=request_id
        if request_id is not None and _BIGINT_MIN <= request_id <= _BIGINT_MAX
        else None,
        detail=detail,
        received_at=now,
    )


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


def station_events(*, station: Station) -> QuerySet[StationEvent]:
    """The station's events, newest first."""
    return StationEvent.objects.filter(station=station).order_by("-received_at", "-id")
