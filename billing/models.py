"""Tariffs, charging sessions, OCPP transactions and their meter values."""

from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.db import models

from stations.models import Station

MONEY = {"max_digits": 14, "decimal_places": 4, "default": Decimal("0")}


class Tariff(models.Model):
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3)
    price_per_kwh = models.DecimalField(**MONEY)
    price_per_minute = models.DecimalField(**MONEY)
    session_fee = models.DecimalField(**MONEY)
    idle_fee_per_minute = models.DecimalField(**MONEY)
    idle_grace_minutes = models.PositiveIntegerField(default=0)
    # [{"days": [1..7], "start": "HH:MM", "end": "HH:MM", "price_per_kwh": "…",
    #   "price_per_minute": "…", "idle_fee_per_minute": "…"}]
    periods = models.JSONField(default=list, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    stations = models.ManyToManyField(Station, blank=True, related_name="tariffs")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Transaction(models.Model):
    """An OCPP transaction. Its primary key is the OCPP `transactionId`: a
    database sequence, unique across the network."""

    transaction_id = models.AutoField(primary_key=True)
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="transactions")
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20)
    meter_start = models.BigIntegerField()
    meter_stop = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True, default="")
    # As the StopTransaction gave it: some stations send more than OCPP's 20
    # characters here (taken under the lenient tolerance policy, kept in full).
    stop_id_tag = models.CharField(max_length=255, blank=True, default="")
    transaction_data = models.JSONField(null=True, blank=True)
    reservation_id = models.IntegerField(null=True, blank=True)
    # The latest energy register sample (Wh) and its time, for live billing
    # and for closing a transaction the station abandoned.
    last_meter_wh = models.BigIntegerField(null=True, blank=True)
    last_meter_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-transaction_id"]
        indexes = [
            models.Index(fields=["station", "connector_id", "id_tag", "started_at"], name="tx_retry_key"),
            models.Index(fields=["id_tag", "stopped_at"], name="tx_tag_open"),
        ]

    def __str__(self) -> str:
        return f"Transaction {self.transaction_id}"

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None


class MeterValue(models.Model):
    # No FK constraint: samples for a transaction id the station made up are
    # still kept, and the hot path writes them without a lookup.
    transaction = models.ForeignKey(
        Transaction,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        # Covered by mv_tx_time; a second index would only slow the hot path.
        db_index=False,
        null=True,
        blank=True,
        related_name="meter_values",
    )
    # A transaction id beyond any we issue (an Alfen firmware sends 2**63-1 for
    # "no transaction"): kept as the station sent it, `transaction` left empty.
    foreign_transaction_id = models.BigIntegerField(null=True, blank=True)
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="meter_values")
    connector_id = models.PositiveIntegerField()
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=48)
    value = models.CharField(max_length=2500)
    # Unknown unit and context spellings are kept as sent (ocpp16.tolerance).
    unit = models.CharField(max_length=48, blank=True, default="")
    phase = models.CharField(max_length=8, blank=True, default="")
    context = models.CharField(max_length=48, blank=True, default="")
    location = models.CharField(max_length=16, blank=True, default="")
    format = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["transaction", "timestamp"], name="mv_tx_time")]

    def __str__(self) -> str:
        return f"{self.measurand} {self.value} {self.unit} ({self.timestamp:%Y-%m-%d %H:%M:%S})"


class UnmatchedStop(models.Model):
    """A StopTransaction for a transaction id we do not know (or already
    closed): answered normally and kept here for the operator."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="unmatched_stops")
    # Any integer the schema allows, also one beyond the ids we issue.
    transaction_id = models.BigIntegerField()
    id_tag = models.CharField(max_length=255, blank=True, default="")
    meter_stop = models.BigIntegerField()
    timestamp = models.DateTimeField()
    reason = models.CharField(max_length=32, blank=True, default="")
    payload = models.JSONField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"Unmatched stop of transaction {self.transaction_id}"


class SessionStatus(models.TextChoices):
    CREATED = "created"
    STARTING = "starting"
    CHARGING = "charging"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SessionStopReason(StrEnum):
    """Why a session ended without a transaction (the station's own stop
    reasons, e.g. "Local" or "EVDisconnected", are kept as it sent them)."""

    REJECTED = "Rejected"  # the station answered RemoteStartTransaction "Rejected"
    NO_REPLY = "Timeout"  # no answer in time: the station may still start
    NOT_CONNECTED = "NotConnected"
    STATION_ERROR = "StationError"
    NEVER_STARTED = "NoStart"  # accepted, but no StartTransaction came
    CANCELLED = "Cancelled"  # by the user, before it started


class Session(models.Model):
    """A driver's charging session, billed by the tariff snapshot it keeps."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="charging_sessions",
    )
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="sessions")
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20)
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    tariff_snapshot = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.CREATED)
    limit_kwh = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    limit_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    transaction = models.OneToOneField(
        Transaction, on_delete=models.SET_NULL, null=True, blank=True, related_name="session"
    )
    energy_kwh = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("0"))
    cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True, default="")
    # Why the session could not be priced (a tariff stored unvalidated, say);
    # blank when it was. The station charges on regardless: see billing.sessions.
    pricing_error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    remote_start_at = models.DateTimeField(null=True, blank=True)
    limit_stop_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["station", "connector_id", "status"], name="session_waiting")]

    def __str__(self) -> str:
        return f"Session {self.pk} ({self.id_tag}, {self.status})"
