"""Input and output shapes of the station management API (SPEC "Resources")."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from evpower.api.fields import StoredJSONField
from evpower.models import User
from stations import selectors
from stations.models import (
    IdTagStatus,
    MessageLog,
    RegistrationStatus,
    Tolerance,
    station_id_valid,
    valid_time_zone,
)

# Stations ---------------------------------------------------------------------


class ConnectorOutput(serializers.Serializer):
    connector_id = serializers.IntegerField()
    status = serializers.CharField()
    error_code = serializers.CharField()
    info = serializers.CharField()
    updated_at = serializers.DateTimeField()


@extend_schema_field({"type": "string", "enum": [Tolerance.LENIENT, Tolerance.STRICT], "nullable": True})
class ToleranceField(serializers.ChoiceField):
    """A station's tolerance policy; null for the network default (OCPP_TOLERANCE)."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "lenient: frames whose only faults are known vendor quirks are taken and the "
            "violations recorded; strict: answered with the schema's CALLERROR; "
            "null: the network default. Takes effect when the station next connects.",
        )
        super().__init__(choices=[Tolerance.LENIENT, Tolerance.STRICT], allow_null=True, **kwargs)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return "" if value is None else value

    def to_representation(self, value):
        return value or None


class StationInput(serializers.Serializer):
    """POST (all rules) and PATCH (partial; the id cannot change)."""

    station_id = serializers.CharField(max_length=48, trim_whitespace=False)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=128,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Basic-auth password of the station (stored hashed); null or empty clears it.",
    )
    registration_status = serializers.ChoiceField(
        choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    time_zone = serializers.CharField(
        max_length=64, default=lambda: settings.STATION_TIME_ZONE, help_text="IANA name, e.g. Europe/Berlin."
    )
    vendor = serializers.CharField(max_length=50, required=False, allow_blank=True)
    model = serializers.CharField(max_length=50, required=False, allow_blank=True)
    serial_number = serializers.CharField(max_length=50, required=False, allow_blank=True)
    tolerance = ToleranceField(required=False)

    def validate_station_id(self, value: str) -> str:
        if self.instance is not None:
            if value != self.instance.station_id:
                # Presence, the message log and the station's own configuration
                # all know it by this id: register a new station instead.
                raise serializers.ValidationError("A station's id cannot be changed.")
            return value
        if not station_id_valid(value):
            raise serializers.ValidationError("1 to 48 printable characters, no '/'.")
        if selectors.station_get(station_id=value) is not None:
            raise serializers.ValidationError("A station with this id already exists.")
        return value

    def validate_time_zone(self, value: str) -> str:
        if not valid_time_zone(value):
            raise serializers.ValidationError(f"Unknown time zone {value!r}: use an IANA name.")
        return value


class StationOutput(serializers.Serializer):
    """Needs `presence` in its context: station id -> live presence entry."""

    station_id = serializers.CharField()
    registration_status = serializers.ChoiceField(choices=RegistrationStatus.choices)
    time_zone = serializers.CharField()
    vendor = serializers.CharField()
    model = serializers.CharField()
    serial_number = serializers.CharField()
    firmware_version = serializers.CharField()
    tolerance = ToleranceField()
    has_password = serializers.SerializerMethodField()
    online = serializers.SerializerMethodField()
    last_seen = serializers.SerializerMethodField()
    connectors = ConnectorOutput(many=True, source="connectors.all")

    def _live(self, station) -> dict | None:
        return self.context["presence"].get(station.station_id)

    def get_has_password(self, station) -> bool:
        return bool(station.password_hash)

    def get_online(self, station) -> bool:
        return self._live(station) is not None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_seen(self, station) -> str | None:
        value = selectors.last_seen(station=station, live=self._live(station))
        return serializers.DateTimeField().to_representation(value) if value else None


# Id tags ----------------------------------------------------------------------


class IdTagInput(serializers.Serializer):
    id_tag = serializers.CharField(max_length=20, trim_whitespace=False)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), allow_null=True, required=False, help_text="User id."
    )
    status = serializers.ChoiceField(choices=IdTagStatus.choices, default=IdTagStatus.ACCEPTED)
    expiry_date = serializers.DateTimeField(allow_null=True, required=False)
    parent_id_tag = serializers.CharField(max_length=20, allow_blank=True, allow_null=True, required=False)

    def validate_id_tag(self, value: str) -> str:
        # The id is also the key in the path: it must be usable there.
        if not value.strip() or not value.isprintable() or "/" in value:
            raise serializers.ValidationError("1 to 20 printable characters, no '/'.")
        existing = selectors.id_tag_get(id_tag=value)
        if existing is not None and existing != self.instance:
            raise serializers.ValidationError("An id tag with this id already exists.")
        return value


class IdTagOutput(serializers.Serializer):
    id_tag = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    status = serializers.ChoiceField(choices=IdTagStatus.choices)
    expiry_date = serializers.DateTimeField(allow_null=True)
    parent_id_tag = serializers.CharField()


# Message log ------------------------------------------------------------------


class MessageOutput(serializers.Serializer):
    station_id = serializers.CharField()
    direction = serializers.ChoiceField(choices=MessageLog.Direction.choices)
    message_type = serializers.CharField()
    action = serializers.CharField()
    unique_id = serializers.CharField()
    payload = StoredJSONField()
    created_at = serializers.DateTimeField()
