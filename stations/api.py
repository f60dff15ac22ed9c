"""Station management API: stations, id tags, station status, message log."""

import django_filters
from django import forms
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from evpower.api.permissions import IsOperator, ReadClientWriteAdmin, ReadOperatorWriteAdmin
from evpower.errors import Conflict, NotFound
from stations import id_tags, message_log, registry, selectors
from stations.models import IdTag, IdTagStatus, MessageLog, RegistrationStatus
from stations.serializers import (
    IdTagInput,
    IdTagOutput,
    MessageOutput,
    StationInput,
    StationOutput,
)

NOT_FOUND = OpenApiResponse(description="Unknown id.")


def _conflict(detail: str) -> Conflict:
    return Conflict("conflict", detail)


def _validation(field: str, message: str) -> serializers.ValidationError:
    # A race lost to another request after the serializer's own check.
    return serializers.ValidationError({field: [message]})


# Stations ---------------------------------------------------------------------


class StationFilter(django_filters.FilterSet):
    registration_status = django_filters.ChoiceFilter(choices=RegistrationStatus.choices)


class StationListView(generics.ListAPIView):
    """`GET /ocpp/stations` (operator+), `POST /ocpp/stations` (admin+)."""

    permission_classes = [ReadOperatorWriteAdmin]
    serializer_class = StationOutput
    filterset_class = StationFilter

    def get_queryset(self):
        return selectors.station_list()

    def get_serializer_context(self):
        # One presence read for the whole page, not one per station.
        return {**super().get_serializer_context(), "presence": selectors.presence_all()}

    @extend_schema(request=StationInput, responses={201: StationOutput})
    def post(self, request):
        data = StationInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            station = registry.station_create(**data.validated_data)
        except registry.StationIdTaken:
            raise _validation("station_id", "A station with this id already exists.")
        station = selectors.station_get(station_id=station.station_id)
        return Response(StationOutput(station, context={"presence": {}}).data, status=status.HTTP_201_CREATED)


class StationDetailView(generics.GenericAPIView):
    """`GET` (operator+), `PATCH`/`DELETE` (admin+) `/ocpp/stations/{station_id}`."""

    permission_classes = [ReadOperatorWriteAdmin]
    serializer_class = StationOutput

    def _station(self, station_id: str):
        station = selectors.station_get(station_id=station_id)
        if station is None:
            raise NotFound("not_found", "Unknown station.")
        return station

    def _output(self, station) -> dict:
        presence = selectors.presence_of(station_id=station.station_id)
        return StationOutput(station, context={"presence": presence}).data

    @extend_schema(responses={200: StationOutput, 404: NOT_FOUND})
    def get(self, request, station_id: str):
        return Response(self._output(self._station(station_id)))

    @extend_schema(request=StationInput, responses={200: StationOutput, 404: NOT_FOUND})
    def patch(self, request, station_id: str):
        station = self._station(station_id)
        data = StationInput(station, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        registry.station_update(station=station, data=data.validated_data)
        return Response(self._output(self._station(station_id)))

    @extend_schema(
        responses={204: None, 404: NOT_FOUND, 409: OpenApiResponse(description="Has billing history.")}
    )
    def delete(self, request, station_id: str):
        station = self._station(station_id)
        try:
            registry.station_delete(station=station)
        except registry.StationInUse:
            raise _conflict("The station has transactions or sessions; its billing history must be kept.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# Id tags ----------------------------------------------------------------------


class WholeNumberFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField  # not `owner=1.5` matching user 1


class IdTagFilter(django_filters.FilterSet):
    # Bounded: Django's guard against out-of-range numbers skips foreign keys,
    # and SQLite cannot even bind a larger one (OverflowError, a 500).
    owner = WholeNumberFilter(field_name="owner_id", min_value=1, max_value=2**63 - 1)
    status = django_filters.ChoiceFilter(choices=IdTagStatus.choices)


class IdTagListView(generics.ListAPIView):
    """`GET /ocpp/id_tags` (client: own tags; operator+: all), `POST` (admin+)."""

    permission_classes = [ReadClientWriteAdmin]
    serializer_class = IdTagOutput
    filterset_class = IdTagFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return IdTag.objects.none()
        return id_tags.id_tags_visible(user=self.request.user)

    @extend_schema(request=IdTagInput, responses={201: IdTagOutput})
    def post(self, request):
        data = IdTagInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tag = id_tags.id_tag_create(**data.validated_data)
        except id_tags.IdTagTaken:
            raise _validation("id_tag", "An id tag with this id already exists.")
        return Response(IdTagOutput(tag).data, status=status.HTTP_201_CREATED)


class IdTagDetailView(generics.GenericAPIView):
    """`GET` (owner or operator+), `PATCH`/`DELETE` (admin+) `/ocpp/id_tags/{id_tag}`."""

    permission_classes = [ReadClientWriteAdmin]
    serializer_class = IdTagOutput

    def _tag(self, id_tag: str):
        tag = selectors.id_tag_get(id_tag=id_tag)
        if tag is None:
            raise NotFound("not_found", "Unknown id tag.")
        id_tags.id_tag_use_check(actor=self.request.user, tag=tag)
        return tag

    @extend_schema(responses={200: IdTagOutput, 404: NOT_FOUND})
    def get(self, request, id_tag: str):
        return Response(IdTagOutput(self._tag(id_tag)).data)

    @extend_schema(request=IdTagInput, responses={200: IdTagOutput, 404: NOT_FOUND})
    def patch(self, request, id_tag: str):
        tag = self._tag(id_tag)
        data = IdTagInput(tag, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            tag = id_tags.id_tag_update(tag=tag, data=data.validated_data)
        except id_tags.IdTagTaken:
            raise _validation("id_tag", "An id tag with this id already exists.")
        return Response(IdTagOutput(tag).data)

    @extend_schema(responses={204: None, 404: NOT_FOUND})
    def delete(self, request, id_tag: str):
        id_tags.id_tag_delete(tag=self._tag(id_tag))
        return Response(status=status.HTTP_204_NO_CONTENT)


# Message log ------------------------------------------------------------------


class MessageFilter(django_filters.FilterSet):
    station_id = django_filters.CharFilter()
    action = django_filters.CharFilter()
    direction = django_filters.ChoiceFilter(choices=MessageLog.Direction.choices)
    message_type = django_filters.ChoiceFilter(choices=[(t, t) for t in ("CALL", "CALLRESULT", "CALLERROR")])


class MessageListView(generics.ListAPIView):
    """`GET /ocpp/messages` (operator+): every OCPP frame in and out, newest first."""

    permission_classes = [IsOperator]
    serializer_class = MessageOutput
    filterset_class = MessageFilter

    def get_queryset(self):
        return message_log.message_log_list()
