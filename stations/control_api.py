"""Management API for state kept around central-system commands: reservations,
charging profiles and local authorisation lists."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.api.permissions import IsAdmin, IsClient, IsOperator, ReadOperatorWriteAdmin
from evpower.clock import utcnow
from evpower.errors import DomainError, NotFound
from ocpp16.times import format_time
from stations import charging_profiles, local_lists, reservations
from stations.models import (
    ChargingProfile,
    InstalledChargingProfile,
    RecurrencyKind,
    Reservation,
    Station,
)

MAX_INT = 2**31 - 1


def _station(station_id: str) -> Station:
    station = Station.objects.filter(station_id=station_id).first()
    if station is None:
        raise NotFound("not_found", "Unknown station.")
    return station


# Reservations ------------------------------------------------------------------


# Inline in the schema: a shared "status" enum component would collide with
# the other resources' status fields.
@extend_schema_field({"type": "string", "enum": Reservation.Status.values})
class ReservationStatusField(serializers.CharField):
    pass


class ReservationOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    reservation_id = serializers.IntegerField(source="pk", help_text="The OCPP reservationId.")
    station_id = serializers.CharField(source="station.station_id")
    connector_id = serializers.IntegerField()
    id_tag = serializers.CharField()
    parent_id_tag = serializers.CharField(allow_null=True)
    expiry_date = serializers.DateTimeField()
    status = ReservationStatusField()
    station_status = serializers.CharField(
        help_text="The station's answer to ReserveNow, or why none came (not_connected, timeout...)."
    )
    user = serializers.IntegerField(source="user_id", allow_null=True)
    transaction_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["parent_id_tag"] = data["parent_id_tag"] or None
        return data


class ReservationCommandOutput(ReservationOutput):
    # Plain here: the enum lives on ReservationOutput only (one component per enum).
    status = serializers.CharField(help_text="The reservation's status, as in ReservationOutput.")
    station_response = serializers.JSONField(help_text="The station's CALLRESULT payload.")


class ReservationCreateInput(serializers.Serializer):
    station_id = serializers.CharField(max_length=48)
    connector_id = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    id_tag = serializers.CharField(max_length=20)
    expiry_date = serializers.DateTimeField()
    parent_id_tag = serializers.CharField(max_length=20, required=False, allow_blank=True, allow_null=True)

    def validate_expiry_date(self, value):
        if value <= utcnow():
            raise serializers.ValidationError("The expiry date must be in the future.")
        return value


def _command_output(reservation: Reservation, station_response: dict) -> dict:
    reservation.station_response = station_response
    return ReservationCommandOutput(reservation).data


class ReservationListView(generics.ListAPIView):
    """Reservations, newest first; a client sees its own. POST reserves a connector."""

    permission_classes = [IsClient]
    serializer_class = ReservationOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        qs = reservations.reservations_visible(user=self.request.user)
        params = self.request.query_params
        if params.get("station_id"):
            qs = qs.filter(station__station_id=params["station_id"])
        if params.get("status"):
            if params["status"] not in Reservation.Status.values:
                raise DomainError(
                    "validation_error",
                    f"status: one of {', '.join(Reservation.Status.values)}.",
                    {"fields": {"status": [f"One of {', '.join(Reservation.Status.values)}."]}},
                )
            qs = qs.filter(status=params["status"])
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("station_id", OpenApiTypes.STR),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Reservation.Status.values),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ReservationCreateInput, responses={201: ReservationCommandOutput})
    def post(self, request):
        data = ReservationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        station = _station(values["station_id"])
        reservation = reservations.reservation_create(
            actor=request.user,
            station=station,
            connector_id=values["connector_id"],
            id_tag=values["id_tag"],
            expiry_date=values["expiry_date"],
            parent_id_tag=values.get("parent_id_tag") or "",
        )
        response = {"status": reservation.station_status}
        return Response(_command_output(reservation, response), status=status.HTTP_201_CREATED)


class ReservationDetailView(generics.RetrieveAPIView):
    permission_classes = [IsClient]
    serializer_class = ReservationOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        return reservations.reservations_visible(user=self.request.user)


class ReservationCancelView(APIView):
    """Send CancelReservation; `cancelled` once the station accepts."""

    permission_classes = [IsClient]

    @extend_schema(request=None, responses=ReservationCommandOutput)
    def post(self, request, pk: int):
        reservation = get_object_or_404(reservations.reservations_visible(user=request.user), pk=pk)
        reservation, response = reservations.reservation_cancel(reservation=reservation)
        return Response(_command_output(reservation, response))


# Charging profiles ---------------------------------------------------------------

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
        extra_kwargs = {"charging_profile_id": {"max_value": MAX_INT}, "stack_level": {"max_value": MAX_INT}}

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
    charging_profile_id = serializers.IntegerField(help_text="A stored profile's OCPP id.", max_value=MAX_INT)
    connector_id = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    transaction_id = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_INT,
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

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return InstalledChargingProfile.objects.none()
        qs = InstalledChargingProfile.objects.filter(station=_station(self.kwargs["station_id"]))
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
        station = _station(station_id)
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


# Local authorisation list --------------------------------------------------------

_TAG_STATUSES = ["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]


class IdTagInfoField(serializers.Serializer):
    status = serializers.ChoiceField(choices=_TAG_STATUSES)
    expiryDate = serializers.DateTimeField(required=False, allow_null=True)
    parentIdTag = serializers.CharField(max_length=20, required=False, allow_null=True, allow_blank=True)


class LocalListEntry(serializers.Serializer):
    id_tag = serializers.CharField(max_length=20)
    idTagInfo = IdTagInfoField()


class LocalListInput(serializers.Serializer):
    entries = serializers.ListField(child=LocalListEntry(), allow_empty=True)

    def validate_entries(self, entries):
        seen: set[str] = set()
        for entry in entries:
            key = entry["id_tag"].casefold()  # OCPP id tags are case-insensitive
            if key in seen:
                raise serializers.ValidationError(f"Id tag {entry['id_tag']!r} appears more than once.")
            seen.add(key)
        return entries


def _id_tag_info(value: dict) -> dict:
    info = {"status": value["status"]}
    if value.get("expiryDate"):
        info["expiryDate"] = format_time(value["expiryDate"])
    if value.get("parentIdTag"):
        info["parentIdTag"] = value["parentIdTag"]
    return info


class PendingEntry(serializers.Serializer):
    id_tag = serializers.CharField()
    idTagInfo = IdTagInfoField(allow_null=True, help_text="null: the tag is removed from the station's list.")


class LocalListOutput(serializers.Serializer):
    station_id = serializers.CharField()
    version = serializers.IntegerField(help_text="The last list version the station accepted (0: none).")
    reported_version = serializers.IntegerField(
        allow_null=True, help_text="What GetLocalListVersion last reported."
    )
    entries = LocalListEntry(many=True)
    pending = PendingEntry(many=True, help_text="Not yet on the station: what a Differential sync sends.")
    in_sync = serializers.BooleanField()
    synced_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


def _local_list_output(station: Station, local_list) -> dict:
    pending = local_lists.local_list_pending(local_list=local_list)
    return {
        "station_id": station.station_id,
        "version": local_list.version,
        "reported_version": local_list.reported_version,
        "entries": [
            {"id_tag": tag, "idTagInfo": info} for tag, info in sorted((local_list.entries or {}).items())
        ],
        "pending": [{"id_tag": item["idTag"], "idTagInfo": item.get("idTagInfo")} for item in pending],
        "in_sync": local_list.accepted_entries is not None
        and not pending
        and local_list.reported_version in (None, local_list.version),
        "synced_at": format_time(local_list.synced_at) if local_list.synced_at else None,
        "updated_at": format_time(local_list.updated_at) if local_list.updated_at else None,
    }


class LocalListView(APIView):
    """A station's local authorisation list; PUT replaces the desired entries."""

    permission_classes = [ReadOperatorWriteAdmin]

    @extend_schema(responses=LocalListOutput)
    def get(self, request, station_id: str):
        station = _station(station_id)
        return Response(_local_list_output(station, local_lists.local_list_get(station=station)))

    @extend_schema(request=LocalListInput, responses=LocalListOutput)
    def put(self, request, station_id: str):
        station = _station(station_id)
        data = LocalListInput(data=request.data)
        data.is_valid(raise_exception=True)
        entries = {item["id_tag"]: _id_tag_info(item["idTagInfo"]) for item in data.validated_data["entries"]}
        local_list = local_lists.local_list_replace(station=station, entries=entries)
        return Response(_local_list_output(station, local_list))


class LocalListSyncInput(serializers.Serializer):
    update_type = serializers.ChoiceField(
        choices=[local_lists.FULL, local_lists.DIFFERENTIAL],
        required=False,
        help_text="Default: Differential when the station accepted a list before, else Full.",
    )


class LocalListSyncView(APIView):
    """Send SendLocalList; the version counts once the station accepts it."""

    permission_classes = [IsAdmin]

    @extend_schema(
        request=LocalListSyncInput,
        responses=inline_serializer(
            "LocalListSyncOutput",
            {
                "status": serializers.CharField(help_text="The station's answer."),
                "update_type": serializers.CharField(),
                "list_version": serializers.IntegerField(help_text="The version sent."),
                "local_list": LocalListOutput(),
            },
        ),
    )
    def post(self, request, station_id: str):
        station = _station(station_id)
        data = LocalListSyncInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = local_lists.local_list_sync(
            station=station, update_type=data.validated_data.get("update_type")
        )
        return Response(
            {
                "status": result.status,
                "update_type": result.update_type,
                "list_version": result.list_version,
                "local_list": _local_list_output(station, result.local_list),
            }
        )
