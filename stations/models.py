"""Stations, their connectors, id tags, status history and the message log."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models


def default_time_zone() -> str:
    return settings.TIME_ZONE


def valid_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


class RegistrationStatus(models.TextChoices):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


class Station(models.Model):
    # The integer pk names the station's channel-layer group: group names
    # cannot hold the characters a station id may contain.
    station_id = models.CharField(max_length=48, unique=True)
    password_hash = models.CharField(max_length=256, blank=True, default="")
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    time_zone = models.CharField(max_length=64, default=default_time_zone)
    vendor = models.CharField(max_length=50, blank=True, default="")
    model = models.CharField(max_length=50, blank=True, default="")
    serial_number = models.CharField(max_length=50, blank=True, default="")
    charge_box_serial_number = models.CharField(max_length=50, blank=True, default="")
    firmware_version = models.CharField(max_length=50, blank=True, default="")
    iccid = models.CharField(max_length=20, blank=True, default="")
    imsi = models.CharField(max_length=20, blank=True, default="")
    meter_type = models.CharField(max_length=25, blank=True, default="")
    meter_serial_number = models.CharField(max_length=50, blank=True, default="")
    last_boot_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=32, blank=True, default="")
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    firmware_status = models.CharField(max_length=32, blank=True, default="")
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    # Known configuration: key -> {"value": str|None, "readonly": bool}, from
    # GetConfiguration results and accepted ChangeConfiguration calls.
    configuration = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.station_id

    @property
    def group_name(self) -> str:
        return f"ocpp.station.{self.pk}"

    def set_password(self, raw: str | None) -> None:
        self.password_hash = make_password(raw) if raw else ""

    def check_password(self, raw: str) -> bool:
        return bool(self.password_hash) and check_password(raw, self.password_hash)


class Connector(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=32, blank=True, default="")
    error_code = models.CharField(max_length=32, blank=True, default="")
    info = models.CharField(max_length=50, blank=True, default="")
    vendor_id = models.CharField(max_length=255, blank=True, default="")
    vendor_error_code = models.CharField(max_length=50, blank=True, default="")
    status_timestamp = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["station", "connector_id"], name="uniq_connector")]

    def __str__(self) -> str:
        return f"{self.station_id}/{self.connector_id}"


class StatusRecord(models.Model):
    """History of StatusNotifications."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="status_history")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=32)
    info = models.CharField(max_length=50, blank=True, default="")
    vendor_id = models.CharField(max_length=255, blank=True, default="")
    vendor_error_code = models.CharField(max_length=50, blank=True, default="")
    timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]


class StationEvent(models.Model):
    """History of DiagnosticsStatusNotification and FirmwareStatusNotification."""

    class Kind(models.TextChoices):
        DIAGNOSTICS = "diagnostics"
        FIRMWARE = "firmware"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=32)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]


class DataTransferRecord(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="data_transfers")
    vendor_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=50, blank=True, default="")
    data = models.TextField(blank=True, default="")
    status = models.CharField(max_length=32)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]


class IdTagStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class IdTag(models.Model):
    id_tag = models.CharField(max_length=20, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="id_tags",
    )
    status = models.CharField(max_length=16, choices=IdTagStatus.choices, default=IdTagStatus.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent_id_tag = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.id_tag


class MessageLog(models.Model):
    """Every OCPP frame in and out. Keyed by the station id string so the hot
    path writes it without looking anything up."""

    class Direction(models.TextChoices):
        IN = "in"
        OUT = "out"

    station_id = models.CharField(max_length=48, db_index=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.CharField(max_length=10)
    action = models.CharField(max_length=64, blank=True, default="")
    unique_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["station_id", "-created_at"], name="msglog_station_time")]
