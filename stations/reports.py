"""What a station reports about itself: boot info, connector status, firmware
and diagnostics events, DataTransfer. Called by the gateway on its writer
thread, inside a group commit."""

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from stations.models import (
    Connector,
    DataTransferRecord,
    RegistrationStatus,
    Station,
    StationEvent,
    StatusRecord,
)

# What BootNotification stores, as (Station field, payload key).
_BOOT_FIELDS = (
    ("vendor", "chargePointVendor"),
    ("model", "chargePointModel"),
    ("serial_number", "chargePointSerialNumber"),
    ("charge_box_serial_number", "chargeBoxSerialNumber"),
    ("firmware_version", "firmwareVersion"),
    ("iccid", "iccid"),
    ("imsi", "imsi"),
    ("meter_type", "meterType"),
    ("meter_serial_number", "meterSerialNumber"),
)
_BOOT_STATUS = {RegistrationStatus.ACCEPTED: "Accepted", RegistrationStatus.PENDING: "Pending"}


class BootAnswer:
    """A BootNotification's outcome, known once the commit's boots are written
    (`StationBoots.flush`): read it after the unit's commit.

    `status` answers the station; `configuration_stale` says whether to ask
    for its configuration: unknown yet, the station reported itself otherwise
    than before (new firmware or hardware can change its keys) and has not
    answered a GetConfiguration since (`Station.configuration_stale`), or
    values changed with RebootRequired took effect only now. Not after every boot: a
    fleet rebooting at once (a server restart) mostly has nothing new to say,
    and asking each one costs a call, its answer and a write per station."""

    __slots__ = ("configuration_stale", "status")

    def __init__(self) -> None:
        self.status = "Rejected"
        self.configuration_stale = True


class StationBoots:
    """Every BootNotification of one commit, written with one statement.

    A reconnect storm is thousands of boots in a few seconds; one UPDATE and
    one SELECT each kept the single writer thread waiting on two round trips
    per station (the storm's limit, by profile)."""

    def __init__(self) -> None:
        # Station pk -> (its latest boot info, when, the answers waiting for it).
        self.latest: dict[int, tuple[dict, datetime, list[BootAnswer]]] = {}

    def add(self, station_pk: int, info: dict, now: datetime) -> BootAnswer:
        answer = BootAnswer()
        _, _, answers = self.latest.get(station_pk, (None, None, []))
        answers.append(answer)
        self.latest[station_pk] = (info, now, answers)
        return answer

    def flush(self, batch) -> None:
        written = self._write_at_once(batch) if connection.vendor == "postgresql" else self._write_each()
        for station_pk, (_, _, answers) in self.latest.items():
            registration, stale = written.get(station_pk, (None, True))
            for answer in answers:
                answer.status = _BOOT_STATUS.get(registration, "Rejected")
                answer.configuration_stale = stale

    def _write_at_once(self, batch) -> dict[int, tuple[str, bool]]:
        columns = [[] for _ in range(len(_BOOT_FIELDS) + 2)]
        for station_pk, (info, now, _) in self.latest.items():
            columns[0].append(station_pk)
            for i, (_, key) in enumerate(_BOOT_FIELDS, start=1):
                columns[i].append(info.get(key, ""))
            columns[-1].append(now)
        return {pk: (registration, stale) for pk, registration, stale in batch.query(_BOOTS_WRITE, columns)}

    def _write_each(self) -> dict[int, tuple[str, bool]]:
        """_write_at_once on databases without arrays."""
        fields = [field for field, _ in _BOOT_FIELDS]
        before = {
            pk: (registration, stale, configuration, reported)
            for pk, registration, stale, configuration, *reported in Station.objects.filter(
                pk__in=list(self.latest)
            ).values_list("pk", "registration_status", "configuration_stale", "configuration", *fields)
        }
        written = {}
        for station_pk, (info, now, _) in self.latest.items():
            if station_pk not in before:
                continue
            registration, stale, configuration, reported = before[station_pk]
            reports = [info.get(key, "") for _, key in _BOOT_FIELDS]
            stale = stale or reported != reports
            Station.objects.filter(pk=station_pk).update(
                **dict(zip(fields, reports, strict=True)),
                last_boot_at=now,
                last_seen=now,
                configuration_stale=stale,
            )
            written[station_pk] = (
                registration,
                stale
                or not configuration
                or any(isinstance(e, dict) and e.get("reboot_required") for e in configuration.values()),
            )
        return written


# Arrays keep the statement's text the same whatever the number of boots. The
# self-join (`before`) reads each row as it was before this statement wrote it.
_REPORTED_BEFORE = f"({', '.join(f'before.{field}' for field, _ in _BOOT_FIELDS)})"
_REPORTED_NOW = f"({', '.join(f'v.{field}' for field, _ in _BOOT_FIELDS)})"
_BOOTS_WRITE = f"""
UPDATE {Station._meta.db_table} AS s SET {", ".join(f"{field} = v.{field}" for field, _ in _BOOT_FIELDS)},
  last_boot_at = v.at, last_seen = v.at,
  configuration_stale = before.configuration_stale OR {_REPORTED_BEFORE} IS DISTINCT FROM {_REPORTED_NOW}
FROM unnest(%s::bigint[], {", ".join("%s::text[]" for _ in _BOOT_FIELDS)}, %s::timestamptz[])
  AS v(id, {", ".join(field for field, _ in _BOOT_FIELDS)}, at),
  {Station._meta.db_table} AS before
WHERE s.id = v.id AND before.id = v.id
RETURNING s.id, s.registration_status,
  s.configuration_stale
  OR before.configuration = '{{}}'::jsonb
  OR jsonb_path_exists(before.configuration, '$.*.reboot_required ? (@ == true)')
"""


def station_boot(*, batch, station_pk: int, info: dict, now: datetime) -> BootAnswer:
    """Store boot info (with the commit's other boots); the answer (status
    for the station's registration state, whether to ask its configuration)
    is set once the commit wrote them."""
    return batch.state(StationBoots).add(station_pk, info, now)


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
