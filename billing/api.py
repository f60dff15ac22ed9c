"""`/ocpp/tariffs`, `/ocpp/sessions`, `/ocpp/start_charge`: tariffs and charging sessions.

Deleting a tariff that sessions used archives it (`is_active: false`, still
listed; `?is_active=true` lists the ones in force). A client sees only its own
sessions: another's answers 404, like one that does not exist."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import sessions, tariffs
from billing.models import Session, SessionStatus, Tariff
from billing.serializers import (
    SessionCreateInput,
    SessionOutput,
    StartChargeInput,
    StartChargeOutput,
    StopOutput,
    TariffSerializer,
)
from evpower.api.permissions import IsClient, ReadClientWriteAdmin
from evpower.clock import utcnow
from evpower.errors import DomainError, NotFound
from stations.models import Station

# Tariffs ---------------------------------------------------------------------


def _tariffs():
    return Tariff.objects.prefetch_related(
        Prefetch("stations", queryset=Station.objects.only("id", "station_id").order_by("station_id"))
    ).order_by("-created_at", "-id")


class TariffFilter(django_filters.FilterSet):
    is_active = django_filters.BooleanFilter(help_text="false: archived tariffs only.")

    class Meta:
        model = Tariff
        fields = ["is_active"]


class TariffListView(generics.ListCreateAPIView):
    permission_classes = [ReadClientWriteAdmin]
    serializer_class = TariffSerializer
    filterset_class = TariffFilter

    def get_queryset(self):
        return _tariffs()

    def perform_create(self, serializer):
        serializer.instance = tariffs.tariff_create(data=serializer.validated_data)


class TariffDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [ReadClientWriteAdmin]
    serializer_class = TariffSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return _tariffs()

    def perform_update(self, serializer):
        serializer.instance = tariffs.tariff_update(
            tariff=serializer.instance, data=serializer.validated_data
        )

    @extend_schema(responses={204: OpenApiResponse(description="Deleted, or archived if sessions used it.")})
    def delete(self, request, *args, **kwargs):
        return super().delete(request, *args, **kwargs)

    def perform_destroy(self, instance):
        tariffs.tariff_delete(tariff=instance)


# Sessions --------------------------------------------------------------------


class SessionFilter(django_filters.FilterSet):
    station_id = django_filters.CharFilter(field_name="station__station_id")
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)
    id_tag = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Session
        fields = ["station_id", "status", "id_tag"]


class SessionListView(generics.ListAPIView):
    """GET lists sessions (a client: its own); POST creates one waiting to start."""

    permission_classes = [IsClient]
    serializer_class = SessionOutput
    filterset_class = SessionFilter

    def get_queryset(self):
        return sessions.sessions_visible(user=self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=SessionCreateInput, responses={201: SessionOutput})
    def post(self, request):
        data = SessionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = sessions.session_create(actor=request.user, now=utcnow(), **data.validated_data)
        return Response(SessionOutput(session).data, status=status.HTTP_201_CREATED)


class SessionDetailView(generics.RetrieveAPIView):
    permission_classes = [IsClient]
    serializer_class = SessionOutput

    def get_queryset(self):
        return sessions.sessions_visible(user=self.request.user)


def _failed_with(exc: DomainError, session: Session) -> DomainError:
    """The command's error, naming the session it failed."""
    exc.extra = {**exc.extra, "session": SessionOutput(session).data}
    return exc


class SessionStopView(APIView):
    permission_classes = [IsClient]

    @extend_schema(request=None, responses={200: StopOutput})
    def post(self, request, pk: int):
        session = get_object_or_404(sessions.sessions_visible(user=request.user), pk=pk)
        try:
            session, response = sessions.session_stop(session=session, now=utcnow())
        except DomainError as exc:
            session.refresh_from_db()
            raise _failed_with(exc, session) from None
        return Response({"session": SessionOutput(session).data, "station_response": response})


class StartChargeView(APIView):
    """Create (or take a `created`) session and send RemoteStartTransaction.

    200 also when the station refuses: the session is then `failed`."""

    permission_classes = [IsClient]

    @extend_schema(request=StartChargeInput, responses={200: StartChargeOutput})
    def post(self, request):
        data = StartChargeInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields, now = data.validated_data, utcnow()
        limits = {k: fields.get(k) for k in ("limit_kwh", "limit_amount")}
        if fields.get("session_id") is None:
            session = sessions.session_create(
                actor=request.user,
                station_id=fields["station_id"],
                connector_id=fields["connector_id"],
                id_tag=fields["id_tag"],
                tariff_id=fields.get("tariff_id"),
                now=now,
                **limits,
            )
            limits = {}
        else:
            session = self._existing(request, fields)
        try:
            session, response = sessions.session_start(actor=request.user, session=session, now=now, **limits)
        except DomainError as exc:
            session.refresh_from_db()
            raise _failed_with(exc, session) from None
        return Response({"session": SessionOutput(session).data, "station_response": response})

    @staticmethod
    def _existing(request, fields: dict) -> Session:
        session = sessions.sessions_visible(user=request.user).filter(pk=fields["session_id"]).first()
        if session is None:
            raise NotFound("not_found", "Unknown session.", {"fields": {"session_id": ["Unknown session."]}})
        given = {
            "station_id": (fields.get("station_id"), session.station.station_id),
            "connector_id": (fields.get("connector_id"), session.connector_id),
            "id_tag": (fields.get("id_tag"), session.id_tag),
        }
        mismatched = {
            name: [f"The session's is {actual!r}."]
            for name, (value, actual) in given.items()
            if value is not None and str(value).lower() != str(actual).lower()
        }
        if mismatched:
            raise serializers.ValidationError(mismatched)
        return session
