"""Input and output shapes of the tariff and session endpoints."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Session, Tariff
from billing.pricing import PricingError, TariffPeriod, currency_is_valid, quantize_money
from billing.tariffs import MAX_GRACE_MINUTES, MAX_PRICE, PRICE_UNIT, tariff_errors
from evpower.clock import utcnow
from stations.models import Station
from stations.serializers import ConnectorOutput

MAX_LIMIT_KWH = Decimal("1000")
MAX_LIMIT_AMOUNT = Decimal("100000")


class _AsSent:
    """Input handed on as sent: `billing.tariffs.tariff_validate` is the one
    judge of a tariff, for the API, the admin and commands alike."""

    def to_internal_value(self, data):
        return data


class _AsSentChar(_AsSent, serializers.CharField):
    pass


class _AsSentInteger(_AsSent, serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_value=MAX_GRACE_MINUTES, **kwargs)
        self.validators = []  # the bounds are documented here, enforced by tariff_validate


class _Price(_AsSent, serializers.DecimalField):
    def __init__(self, **kwargs):
        super().__init__(max_digits=14, decimal_places=4, min_value=Decimal(0), max_value=MAX_PRICE, **kwargs)
        self.validators = []  # the bounds are documented here, enforced by tariff_validate


class TariffPeriodSerializer(serializers.Serializer):
    """The shape of a period, for the documentation (see PeriodsField)."""

    days = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7),
        min_length=1,
        max_length=7,
        help_text="ISO weekdays, 1 = Monday ... 7 = Sunday.",
    )
    start = serializers.CharField(help_text='"HH:MM", local to the station.')
    end = serializers.CharField(help_text='"HH:MM" or "24:00"; at or before `start` means the next day.')
    price_per_kwh = serializers.DecimalField(max_digits=14, decimal_places=4)
    price_per_minute = serializers.DecimalField(max_digits=14, decimal_places=4)
    idle_fee_per_minute = serializers.DecimalField(max_digits=14, decimal_places=4)


_PERIOD_PRICES = ("price_per_kwh", "price_per_minute", "idle_fee_per_minute")


@extend_schema_field(TariffPeriodSerializer(many=True))
class PeriodsField(_AsSent, serializers.Field):
    """Periods as stored; a valid one with its prices to four places like the
    tariff's, one stored before tariffs were validated exactly as it is."""

    def to_representation(self, value):
        periods = []
        for item in value if isinstance(value, list) else []:
            try:
                period = TariffPeriod.from_dict(item).to_dict()
            except (PricingError, TypeError):
                periods.append(item)
                continue
            for name in _PERIOD_PRICES:
                period[name] = str(Decimal(period[name]).quantize(PRICE_UNIT))
            periods.append(period)
        return periods if isinstance(value, list) else value


class TariffSerializer(serializers.ModelSerializer):
    """Parses only: `tariffs.tariff_create`/`tariff_update` validate the whole tariff."""

    name = _AsSentChar(help_text="Shown to drivers and staff.")
    currency = _AsSentChar(help_text="ISO 4217 code, e.g. EUR.")
    price_per_kwh = _Price(required=False)
    price_per_minute = _Price(required=False, help_text="While the transaction runs.")
    session_fee = _Price(required=False)
    idle_fee_per_minute = _Price(
        required=False, help_text="After charging stopped while the car stays plugged in, after the grace."
    )
    idle_grace_minutes = _AsSentInteger(required=False)
    periods = PeriodsField(required=False)
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    valid_to = serializers.DateTimeField(required=False, allow_null=True)
    stations = serializers.SlugRelatedField(
        many=True,
        slug_field="station_id",
        queryset=Station.objects.all(),
        required=False,
        help_text="Station ids; empty: the network default.",
    )
    is_active = serializers.BooleanField(read_only=True, help_text="False once archived.")
    created_at = serializers.DateTimeField(read_only=True)
    validation_errors = serializers.SerializerMethodField(
        help_text="Null; for a tariff stored before tariffs were validated, what is wrong with it "
        "(its sessions are flagged with a pricing error until it is fixed)."
    )

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
            "validation_errors",
        ]
        read_only_fields = ["id", "is_active", "created_at", "validation_errors"]

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_validation_errors(self, tariff: Tariff) -> dict | None:
        return tariff_errors(tariff)


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
    pricing_error = serializers.CharField(
        help_text="Empty; else why the session could not be priced (its cost stays at the last "
        "good value, 0 without a tariff snapshot) until its tariff is fixed."
    )
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
            "pricing_error",
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
