"""Charging session endpoints: create, list, detail, start (RemoteStart), stop."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import sessions
from billing.models import Session, SessionStatus
from billing.serializers import (
    SessionCreateInput,
    SessionOutput,
    StartChargeInput,
    StartChargeOutput,
    StopOutput,
)
from evpower.api.permissions import IsClient
from evpower.clock import utcnow
from evpower.errors import DomainError, NotFound


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
