"""Reservations endpoints: list, create (ReserveNow), detail, cancel."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.api.permissions import IsClient
from evpower.clock import utcnow
from evpower.errors import DomainError
from ocpp16.schemas import MAX_INTEGER
from stations import reservations
from stations.models import (
    Reservation,
)
from stations.selectors import station_or_404


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
    connector_id = serializers.IntegerField(min_value=0, max_value=MAX_INTEGER)
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
    query_params = ("station_id", "status")  # read in get_queryset

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
        station = station_or_404(values["station_id"])
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
    query_params = ("station_id", "status")  # read in get_queryset

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
