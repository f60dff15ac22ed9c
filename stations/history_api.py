"""A station's own history over the API: the events it reported
(`GET /ocpp/stations/{station_id}/events`) and the vendor quirks taken from
its frames (`GET /ocpp/stations/{station_id}/violations`)."""

import django_filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import generics, serializers

from evpower.api.fields import StoredJSONField
from evpower.api.permissions import IsOperator
from stations import protocol_violations, reports
from stations.models import ProtocolViolation, StationEvent
from stations.selectors import station_or_404


@extend_schema_field({"type": "string", "enum": StationEvent.Kind.values})
class EventKindField(serializers.CharField):
    pass


class StationEventOutput(serializers.Serializer):
    kind = EventKindField(
        help_text="diagnostics, firmware (core 1.6); security, certificate (SignCertificate), log, "
        "signed_firmware (the 1.6 security extension)."
    )
    status = serializers.CharField(
        help_text="The reported status; a security event's type; our answer to a SignCertificate."
    )
    timestamp = serializers.DateTimeField(allow_null=True, help_text="The station's time of the event.")
    request_id = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField(help_text="A security event's techInfo; a SignCertificate's CSR.")
    received_at = serializers.DateTimeField()


class StationEventFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=StationEvent.Kind.choices)


class StationEventListView(generics.ListAPIView):
    """`GET /ocpp/stations/{station_id}/events` (operator+): newest first."""

    permission_classes = [IsOperator]
    serializer_class = StationEventOutput
    filterset_class = StationEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return StationEvent.objects.none()
        return reports.station_events(station=station_or_404(self.kwargs["station_id"]))


# Protocol violations ----------------------------------------------------------


class ProtocolViolationOutput(serializers.Serializer):
    action = serializers.CharField()
    kind = serializers.CharField(
        help_text="too_long, unknown_error_code, empty_sampled_value, unknown_spelling, number_value, "
        "extra_property, missing_timestamp, zoneless_timestamp."
    )
    field = serializers.CharField(help_text="Where in the payload, as a dotted path without indexes.")
    detail = serializers.CharField(help_text="What the latest one was and how it was read.")
    count = serializers.IntegerField(help_text="Frames that showed it.")
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    example = StoredJSONField(help_text="The latest such frame as sent: [2, uniqueId, action, payload].")


class ProtocolViolationListView(generics.ListAPIView):
    """`GET /ocpp/stations/{station_id}/violations` (operator+): the known vendor
    quirks taken from this station, most recently seen first."""

    permission_classes = [IsOperator]
    serializer_class = ProtocolViolationOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ProtocolViolation.objects.none()
        return protocol_violations.protocol_violations_of(station=station_or_404(self.kwargs["station_id"]))
