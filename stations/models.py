"""Stations, their connectors, id tags, status history and the message log."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models


def default_time_zone() -> str:
    return settings.STATION_TIME_ZONE


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


class Tolerance(models.TextChoices):
    """A station's tolerance policy (ocpp16.tolerance); "" is the network default."""

    DEFAULT = "", "network default"
    LENIENT = "lenient"
    STRICT = "strict"


def station_id_valid(station_id: str) -> bool:
    """1-48 printable characters, no "/" (the id is a path segment of the station's URL)."""
    return 1 <= len(station_id) <= 48 and station_id.isprintable() and "/" not in station_id


class Station(models.Model):
    station_id = models.CharField(max_length=48, unique=True)
    password_hash = models.CharField(max_length=256, blank=True, default="")
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    time_zone = models.CharField(max_length=64, default=default_time_zone)
    # How frames with known vendor quirks are taken (see ocpp16.tolerance);
    # empty: the network default, OCPP_TOLERANCE.
    tolerance = models.CharField(max_length=8, choices=Tolerance.choices, blank=True, default="")
    # As the station reports them. Wider than OCPP's limits: real stations
    # send longer serial numbers, kept in full (ocpp16.tolerance).
    vendor = models.CharField(max_length=255, blank=True, default="")
    model = models.CharField(max_length=255, blank=True, default="")
    serial_number = models.CharField(max_length=255, blank=True, default="")
    charge_box_serial_number = models.CharField(max_length=255, blank=True, default="")
    firmware_version = models.CharField(max_length=255, blank=True, default="")
    iccid = models.CharField(max_length=255, blank=True, default="")
    imsi = models.CharField(max_length=255, blank=True, default="")
    meter_type = models.CharField(max_length=255, blank=True, default="")
    meter_serial_number = models.CharField(max_length=255, blank=True, default="")
    last_boot_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=32, blank=True, default="")
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    firmware_status = models.CharField(max_length=32, blank=True, default="")
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    # Known configuration: key -> {"value": str|None, "readonly": bool}, from
    # GetConfiguration results and accepted ChangeConfiguration calls.
    configuration = models.JSONField(default=dict, blank=True)
    # The station booted reporting other boot info (firmware, hardware) than
    # before and has not answered a whole GetConfiguration since: asked again
    # at its next boot until it does.
    configuration_stale = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.station_id

    def set_password(self, raw: str | None) -> None:
        self.password_hash = make_password(raw) if raw else ""

    def check_password(self, raw: str) -> bool:
        return bool(self.password_hash) and check_password(raw, self.password_hash)


class Connector(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=32, blank=True, default="")
    error_code = models.CharField(max_length=32, blank=True, default="")
    # 255, not OCPP's 50: long vendor texts and unknown error codes kept in full.
    info = models.CharField(max_length=255, blank=True, default="")
    vendor_id = models.CharField(max_length=255, blank=True, default="")
    vendor_error_code = models.CharField(max_length=255, blank=True, default="")
    status_timestamp = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["station", "connector_id"], name="uniq_connector")]

    def __str__(self) -> str:
        return f"{self.station.station_id} / {self.connector_id}"


class StatusRecord(models.Model):
    """History of StatusNotifications."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="status_history")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=32)
    # 255, not OCPP's 50: long vendor texts and unknown error codes kept in full.
    info = models.CharField(max_length=255, blank=True, default="")
    vendor_id = models.CharField(max_length=255, blank=True, default="")
    vendor_error_code = models.CharField(max_length=255, blank=True, default="")
    timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"connector {self.connector_id}: {self.status} ({self.received_at:%Y-%m-%d %H:%M:%S})"


class StationEvent(models.Model):
    """History of what a station reports about itself besides charging: the
    core DiagnosticsStatusNotification and FirmwareStatusNotification, and the
    OCPP 1.6 security extension's SecurityEventNotification, SignCertificate,
    LogStatusNotification and SignedFirmwareStatusNotification."""

    class Kind(models.TextChoices):
        DIAGNOSTICS = "diagnostics"
        FIRMWARE = "firmware"
        SECURITY = "security"
        CERTIFICATE = "certificate"
        LOG = "log"
        SIGNED_FIRMWARE = "signed_firmware"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The reported status; a security event's type; for a certificate signing
    # request, our answer.
    status = models.CharField(max_length=255)
    # The station's own time of the event, where it gives one.
    timestamp = models.DateTimeField(null=True, blank=True)
    # The requestId of GetLog / SignedUpdateFirmware the status belongs to.
    request_id = models.BigIntegerField(null=True, blank=True)
    # A security event's techInfo, a certificate signing request's CSR (PEM).
    detail = models.TextField(blank=True, default="")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.status} ({self.received_at:%Y-%m-%d %H:%M:%S})"


class DataTransferRecord(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="data_transfers")
    vendor_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=255, blank=True, default="")
    data = models.TextField(blank=True, default="")
    status = models.CharField(max_length=32)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"DataTransfer {self.vendor_id} {self.message_id}".strip()


class ProtocolViolation(models.Model):
    """A known vendor quirk in a station's frames, taken under the lenient
    policy: one row per station, action, kind and field, with how often."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="protocol_violations")
    action = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)
    # Where in the payload, as a dotted path without indexes.
    field = models.CharField(max_length=255)
    # What the latest one was and how it was read.
    detail = models.TextField()
    # Frames that showed it.
    count = models.PositiveBigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    # The latest such frame as the station sent it: [2, uniqueId, action, payload].
    example = models.JSONField()

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "action", "kind", "field"], name="uniq_protocol_violation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.station_id} {self.action} {self.kind} {self.field}"


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

    # Indexed by msglog_station_time below (a plain index would only slow inserts).
    station_id = models.CharField(max_length=48)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.CharField(max_length=10)
    action = models.CharField(max_length=64, blank=True, default="")
    unique_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["station_id", "-created_at"], name="msglog_station_time")]

    def __str__(self) -> str:
        arrow = "→" if self.direction == self.Direction.OUT else "←"
        return f"{self.station_id} {arrow} {self.message_type} {self.action} {self.unique_id}".strip()


# Central-system commands: what stations accepted -----------------------------


class Reservation(models.Model):
    """A ReserveNow sent by the central system. The pk is the OCPP reservationId."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        CANCELLED = "cancelled"
        USED = "used"
        EXPIRED = "expired"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="reservations")
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20)
    parent_id_tag = models.CharField(max_length=20, blank=True, default="")
    expiry_date = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # The station's own answer (Accepted, Occupied, Faulted...) or why none came.
    station_status = models.CharField(max_length=32, blank=True, default="")
    # The tag's owner when reserved: whose reservation a client sees.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reservations",
    )
    transaction_id = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expiry_date"], name="reservation_status_expiry")]

    def __str__(self) -> str:
        return f"reservation {self.pk} {self.station_id}/{self.connector_id}"


class ChargingProfilePurpose(models.TextChoices):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class ChargingProfileKind(models.TextChoices):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RecurrencyKind(models.TextChoices):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class ChargingProfile(models.Model):
    """A stored OCPP charging profile, ready to install on stations."""

    charging_profile_id = models.PositiveIntegerField(unique=True)
    description = models.CharField(max_length=200, blank=True, default="")
    purpose = models.CharField(max_length=32, choices=ChargingProfilePurpose.choices)
    stack_level = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=ChargingProfileKind.choices)
    recurrency_kind = models.CharField(max_length=16, choices=RecurrencyKind.choices, blank=True, default="")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    # The OCPP chargingSchedule object, camelCase as sent.
    schedule = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"profile {self.charging_profile_id}"


class InstalledChargingProfile(models.Model):
    """A charging profile a station accepted, per connector (0 = whole station).

    Keyed by the OCPP id rather than a foreign key: profiles sent through
    send_command need not be stored ones."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="installed_profiles")
    connector_id = models.PositiveIntegerField()
    charging_profile_id = models.IntegerField()
    purpose = models.CharField(max_length=32)
    stack_level = models.IntegerField()
    # The csChargingProfiles object as the station accepted it.
    profile = models.JSONField()
    installed_at = models.DateTimeField()

    class Meta:
        ordering = ["-installed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "connector_id", "charging_profile_id"], name="uniq_installed_profile"
            )
        ]

    def __str__(self) -> str:
        return f"profile {self.charging_profile_id} on connector {self.connector_id}"


class LocalAuthList(models.Model):
    """A station's local authorisation list: what we want it to hold and what
    it accepted. Entries are maps id_tag -> OCPP idTagInfo."""

    station = models.OneToOneField(Station, on_delete=models.CASCADE, related_name="local_list")
    entries = models.JSONField(default=dict, blank=True)
    # The last listVersion the station accepted (0: none yet) and the list it
    # holds since; None when unknown, so the next sync must be Full.
    version = models.IntegerField(default=0)
    accepted_entries = models.JSONField(null=True, blank=True)
    # What GetLocalListVersion last reported, if asked.
    reported_version = models.IntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"local list v{self.version}"


class AvailabilityRequest(models.Model):
    """The availability last requested with ChangeAvailability and accepted (or
    scheduled) by the station; its actual state comes from StatusNotification."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="availability_requests")
    connector_id = models.PositiveIntegerField()
    type = models.CharField(max_length=16)  # Operative / Inoperative
    status = models.CharField(max_length=16)  # Accepted / Scheduled
    requested_at = models.DateTimeField()

    class Meta:
        ordering = ["station", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "connector_id"], name="uniq_availability_request")
        ]
