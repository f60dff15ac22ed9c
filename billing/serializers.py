"""Input and output shapes of the tariff and session endpoints."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Session, Tariff
from billing.pricing import PricingError, TariffPeriod, TariffSnapshot, currency_is_valid, quantize_money
from evpower.clock import utcnow
from stations.models import Station
from stations.serializers import ConnectorOutput

# Prices above this are a typo (a price in cents, a misplaced comma), not a tariff.
MAX_PRICE = Decimal("1000")
MAX_GRACE_MINUTES = 24 * 60
MAX_PERIODS = 100
MAX_LIMIT_KWH = Decimal("1000")
MAX_LIMIT_AMOUNT = Decimal("100000")


def _price(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=14, decimal_places=4, min_value=Decimal(0), max_value=MAX_PRICE, **kwargs
    )


class TariffPeriodSerializer(serializers.Serializer):
    days = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7),
        min_length=1,
        max_length=7,
        help_text="ISO weekdays, 1 = Monday ... 7 = Sunday.",
    )
    start = serializers.CharField(help_text='"HH:MM", local to the station.')
    end = serializers.CharField(help_text='"HH:MM" or "24:00"; at or before `start` means the next day.')
    price_per_kwh = _price()
    price_per_minute = _price()
    idle_fee_per_minute = _price()

    def validate(self, attrs):
        try:
            period = TariffPeriod.from_dict(attrs)
        except PricingError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return period.to_dict()  # what billing.pricing reads back from the snapshot


class TariffSerializer(serializers.ModelSerializer):
    currency = serializers.CharField(max_length=3, help_text="ISO 4217 code, e.g. EUR.")
    price_per_kwh = _price(required=False)
    price_per_minute = _price(required=False, help_text="While the transaction runs.")
    session_fee = _price(required=False)
    idle_fee_per_minute = _price(
        required=False, help_text="After charging stopped while the car stays plugged in, after the grace."
    )
    idle_grace_minutes = serializers.IntegerField(min_value=0, max_value=MAX_GRACE_MINUTES, required=False)
    periods = TariffPeriodSerializer(many=True, required=False, max_length=MAX_PERIODS)
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    valid_to = serializers.DateTimeField(required=False, allow_null=True)
    stations = serializers.SlugRelatedField(
        many=True,
        slug_field="station_id",
        queryset=Station.objects.all(),
        required=False,
        help_text="Station ids; empty: the network default.",
    )
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Tariff
        fields = [
            "id",
            "name",
            "currency",
            "price_per_kwh",
            "price_per_minute",
            "session_fee",
            "idle_fee_per_minute",
            "idle_grace_minutes",
            "periods",
            "valid_from",
            "valid_to",
            "stations",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "is_active", "created_at"]

    def validate_currency(self, value: str) -> str:
        code = value.strip().upper()
        if not currency_is_valid(code):
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code.")
        return code

    def validate(self, attrs):
        def current(name, default=None):
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, default) if self.instance is not None else default

        valid_from, valid_to = current("valid_from"), current("valid_to")
        if valid_from and valid_to and valid_from >= valid_to:
            raise serializers.ValidationError({"valid_to": ["Must be after valid_from."]})
        # The whole tariff as billing will read it: what passes here can be priced.
        try:
            TariffSnapshot.from_dict(
                {
                    "currency": current("currency"),
                    "price_per_kwh": current("price_per_kwh", Decimal(0)),
                    "price_per_minute": current("price_per_minute", Decimal(0)),
                    "session_fee": current("session_fee", Decimal(0)),
                    "idle_fee_per_minute": current("idle_fee_per_minute", Decimal(0)),
                    "idle_grace_minutes": current("idle_grace_minutes", 0),
                    "periods": current("periods", []) or [],
                }
            )
        except PricingError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return attrs


def _limit_kwh(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=10,
        decimal_places=3,
        min_value=Decimal("0.001"),
        max_value=MAX_LIMIT_KWH,
        required=False,
        allow_null=True,
        help_text="Stop once this much energy (kWh) was delivered.",
        **kwargs,
    )


def _limit_amount(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=MAX_LIMIT_AMOUNT,
        required=False,
        allow_null=True,
        help_text="Stop once the session costs this much (needs a tariff).",
        **kwargs,
    )


class SessionCreateInput(serializers.Serializer):
    station_id = serializers.CharField(max_length=48)
    connector_id = serializers.IntegerField(min_value=1)
    id_tag = serializers.CharField(max_length=20)
    tariff_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="Default: the applicable one."
    )
    limit_kwh = _limit_kwh()
    limit_amount = _limit_amount()


class StartChargeInput(serializers.Serializer):
    station_id = serializers.CharField(max_length=48, required=False)
    connector_id = serializers.IntegerField(min_value=1, required=False)
    id_tag = serializers.CharField(max_length=20, required=False)
    session_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="A `created` session to start; default: a new one."
    )
    tariff_id = serializers.IntegerField(required=False, allow_null=True)
    limit_kwh = _limit_kwh()
    limit_amount = _limit_amount()

    def validate(self, attrs):
        if attrs.get("session_id") is None:
            missing = [f for f in ("station_id", "connector_id", "id_tag") if f not in attrs]
            if missing:
                raise serializers.ValidationError({f: ["This field is required."] for f in missing})
        elif attrs.get("tariff_id") is not None:
            raise serializers.ValidationError(
                {"tariff_id": ["An existing session keeps its tariff; give either session_id or tariff_id."]}
            )
        return attrs


class SessionOutput(serializers.ModelSerializer):
    station_id = serializers.CharField(source="station.station_id")
    user = serializers.IntegerField(source="user_id", allow_null=True)
    tariff = serializers.JSONField(
        source="tariff_snapshot", allow_null=True, help_text="The prices this session is billed by."
    )
    transaction_id = serializers.IntegerField(allow_null=True)
    energy_kwh = serializers.DecimalField(max_digits=14, decimal_places=3)
    duration_seconds = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        model = Session
        fields = [
            "id",
            "station_id",
            "connector_id",
            "id_tag",
            "user",
            "tariff",
            "status",
            "limit_kwh",
            "limit_amount",
            "transaction_id",
            "energy_kwh",
            "duration_seconds",
            "cost",
            "currency",
            "started_at",
            "stopped_at",
            "stop_reason",
            "created_at",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, session: Session) -> int:
        if session.started_at is None:
            return 0
        end = session.stopped_at or utcnow()
        return max(int((end - session.started_at).total_seconds()), 0)

    # Money is a decimal string (OpenApiTypes.DECIMAL would document a number).
    @extend_schema_field({"type": "string", "format": "decimal", "example": "12.34"})
    def get_cost(self, session: Session) -> str:
        if not session.tariff_snapshot or not currency_is_valid(session.currency):
            return "0.00"
        return str(quantize_money(session.cost, session.currency))


class StartChargeOutput(serializers.Serializer):
    session = SessionOutput()
    station_response = serializers.JSONField(help_text="The station's RemoteStartTransaction reply.")


class StopOutput(serializers.Serializer):
    session = SessionOutput()
    station_response = serializers.JSONField(
        allow_null=True, help_text="The station's RemoteStopTransaction reply; null when cancelled."
    )


# Station status: live presence, connectors, running transactions ------------


class StatusConnectorOutput(ConnectorOutput):
    vendor_id = serializers.CharField()
    vendor_error_code = serializers.CharField()
    status_timestamp = serializers.DateTimeField(help_text="The station's time of the status.")


class ActiveTransactionOutput(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    connector_id = serializers.IntegerField()
    id_tag = serializers.CharField(
        allow_null=True, help_text="null for a client when the tag is not its own."
    )
    meter_start = serializers.IntegerField(help_text="Wh")
    started_at = serializers.DateTimeField()
    energy_kwh = serializers.DecimalField(
        max_digits=14, decimal_places=3, help_text="Energy so far, from the latest meter sample."
    )
    last_meter_at = serializers.DateTimeField(allow_null=True)


class StationStatusOutput(serializers.Serializer):
    station_id = serializers.CharField(source="station.station_id")
    online = serializers.BooleanField()
    connected_since = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    registration_status = serializers.CharField(source="station.registration_status")
    time_zone = serializers.CharField(source="station.time_zone")
    vendor = serializers.CharField(source="station.vendor")
    model = serializers.CharField(source="station.model")
    serial_number = serializers.CharField(source="station.serial_number")
    charge_box_serial_number = serializers.CharField(source="station.charge_box_serial_number")
    firmware_version = serializers.CharField(source="station.firmware_version")
    iccid = serializers.CharField(source="station.iccid")
    imsi = serializers.CharField(source="station.imsi")
    meter_type = serializers.CharField(source="station.meter_type")
    meter_serial_number = serializers.CharField(source="station.meter_serial_number")
    last_boot_at = serializers.DateTimeField(source="station.last_boot_at", allow_null=True)
    diagnostics_status = serializers.CharField(source="station.diagnostics_status")
    diagnostics_status_at = serializers.DateTimeField(source="station.diagnostics_status_at", allow_null=True)
    firmware_status = serializers.CharField(source="station.firmware_status")
    firmware_status_at = serializers.DateTimeField(source="station.firmware_status_at", allow_null=True)
    connectors = StatusConnectorOutput(many=True)
    active_transactions = ActiveTransactionOutput(many=True)
