"""Charging profile endpoints: stored profiles, and what each station has installed."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from evpower.api.permissions import IsOperator
from evpower.errors import DomainError
from ocpp16.schemas import MAX_INTEGER
from stations import charging_profiles
from stations.models import (
    ChargingProfile,
    InstalledChargingProfile,
    RecurrencyKind,
)
from stations.selectors import station_or_404

# Where a schema complaint about csChargingProfiles belongs among our fields.
_PROFILE_FIELDS = {
    "chargingProfileId": "charging_profile_id",
    "stackLevel": "stack_level",
    "chargingProfilePurpose": "purpose",
    "chargingProfileKind": "kind",
    "recurrencyKind": "recurrency_kind",
    "validFrom": "valid_from",
    "validTo": "valid_to",
    "chargingSchedule": "schedule",
}


class ChargingProfileSerializer(serializers.ModelSerializer):
    recurrency_kind = serializers.ChoiceField(
        choices=RecurrencyKind.choices, required=False, allow_null=True, allow_blank=True
    )
    schedule = serializers.JSONField(help_text="The OCPP 1.6 chargingSchedule object (camelCase).")

    class Meta:
        model = ChargingProfile
        fields = [
            "id",
            "charging_profile_id",
            "description",
            "purpose",
            "stack_level",
            "kind",
            "recurrency_kind",
            "valid_from",
            "valid_to",
            "schedule",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # OCPP integers are 32-bit, whatever the database would hold.
        extra_kwargs = {
            "charging_profile_id": {"max_value": MAX_INTEGER},
            "stack_level": {"max_value": MAX_INTEGER},
        }

    def validate_recurrency_kind(self, value):
        return value or ""

    def validate(self, attrs):
        def current(name, default=None):
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, default) if self.instance is not None else default

        cs_profile = charging_profiles.charging_profile_payload(
            charging_profile_id=current("charging_profile_id"),
            purpose=current("purpose"),
            stack_level=current("stack_level", 0),
            kind=current("kind"),
            schedule=current("schedule"),
            recurrency_kind=current("recurrency_kind", ""),
            valid_from=current("valid_from"),
            valid_to=current("valid_to"),
        )
        problem = charging_profiles.charging_profile_problem(cs_profile)
        if problem is not None:
            message, path = problem
            field = next((ours for theirs, ours in _PROFILE_FIELDS.items() if theirs in path), None)
            raise serializers.ValidationError({field or "non_field_errors": [message]})
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["recurrency_kind"] = data["recurrency_kind"] or None
        return data


class ChargingProfileListView(generics.ListCreateAPIView):
    """Stored charging profiles, newest first."""

    permission_classes = [IsOperator]
    serializer_class = ChargingProfileSerializer
    queryset = ChargingProfile.objects.all()


class ChargingProfileDetailView(generics.RetrieveUpdateDestroyAPIView):
    """A stored profile; deleting it leaves the copies stations hold in place."""

    permission_classes = [IsOperator]
    serializer_class = ChargingProfileSerializer
    queryset = ChargingProfile.objects.all()
    http_method_names = ["get", "patch", "delete", "head", "options"]


class InstalledProfileOutput(serializers.ModelSerializer):
    profile = serializers.JSONField(help_text="The csChargingProfiles object the station accepted.")

    class Meta:
        model = InstalledChargingProfile
        fields = ["connector_id", "charging_profile_id", "purpose", "stack_level", "profile", "installed_at"]


class ProfileInstallInput(serializers.Serializer):
    charging_profile_id = serializers.IntegerField(
        help_text="A stored profile's OCPP id.", max_value=MAX_INTEGER
    )
    connector_id = serializers.IntegerField(min_value=0, max_value=MAX_INTEGER)
    transaction_id = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_INTEGER,
        help_text="For a TxProfile: the transaction it limits.",
    )

    def validate_charging_profile_id(self, value):
        profile = ChargingProfile.objects.filter(charging_profile_id=value).first()
        if profile is None:
            raise serializers.ValidationError("Unknown charging profile.")
        return profile


class ProfileInstallOutput(serializers.Serializer):
    status = serializers.CharField(help_text="The station's answer: Accepted, Rejected or NotSupported.")
    station_response = serializers.JSONField()
    installed = InstalledProfileOutput(allow_null=True)


class StationChargingProfilesView(generics.ListAPIView):
    """What a station holds, per connector (newest first); POST installs a stored profile."""

    permission_classes = [IsOperator]
    serializer_class = InstalledProfileOutput
    query_params = ("connector_id",)  # read in get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return InstalledChargingProfile.objects.none()
        qs = InstalledChargingProfile.objects.filter(station=station_or_404(self.kwargs["station_id"]))
        connector_id = self.request.query_params.get("connector_id")
        if connector_id:
            if not connector_id.isdigit():
                raise DomainError(
                    "validation_error",
                    "connector_id: a whole number.",
                    {"fields": {"connector_id": ["A whole number."]}},
                )
            qs = qs.filter(connector_id=int(connector_id))
        return qs

    @extend_schema(parameters=[OpenApiParameter("connector_id", OpenApiTypes.INT)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ProfileInstallInput, responses=ProfileInstallOutput)
    def post(self, request, station_id: str):
        station = station_or_404(station_id)
        data = ProfileInstallInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            response, installed = charging_profiles.charging_profile_install(
                station=station,
                profile=values["charging_profile_id"],
                connector_id=values["connector_id"],
                transaction_id=values.get("transaction_id"),
            )
        except charging_profiles.ProfileNotApplicable as exc:
            raise DomainError(
                "validation_error", f"connector_id: {exc}", {"fields": {"connector_id": [str(exc)]}}
            ) from exc
        return Response(
            {
                "status": str(response.get("status", "")),
                "station_response": response,
                "installed": InstalledProfileOutput(installed).data if installed else None,
            }
        )
