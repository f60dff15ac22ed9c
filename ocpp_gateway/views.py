"""Gateway endpoints: live connections and commands to stations."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.access import Can
from evpower.api.permissions import Allowed, IsOperator, has_role
from evpower.errors import DomainError, NotFound
from evpower.models import Role
from ocpp16 import schemas
from ocpp16.errors import OCPPCallError
from ocpp_gateway import commands, metrics, presence
from ocpp_gateway.conf import gateway_settings
from stations.models import Station


class ConnectionOutput(serializers.Serializer):
    station_id = serializers.CharField()
    connected_since = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()


class ConnectionsView(generics.ListAPIView):
    """Stations connected now, across all processes, newest connection first."""

    permission_classes = [IsOperator]
    serializer_class = ConnectionOutput
    filter_backends = []

    def get_queryset(self):
        return sorted(presence.connections(), key=lambda c: c["connected_since"], reverse=True)


class SendCommandInput(serializers.Serializer):
    station_id = serializers.CharField(max_length=48)
    command = serializers.CharField(max_length=64)
    payload = serializers.JSONField(default=dict)


class SendCommandView(APIView):
    permission_classes = [Allowed(Can.COMMAND_STATIONS)]

    @extend_schema(
        request=SendCommandInput,
        responses=inline_serializer(
            "SendCommandOutput", {"status": serializers.CharField(), "response": serializers.JSONField()}
        ),
    )
    def post(self, request):
        data = SendCommandInput(data=request.data)
        data.is_valid(raise_exception=True)
        action, payload = data.validated_data["command"], data.validated_data["payload"]
        if action not in schemas.CENTRAL_ACTIONS:
            raise DomainError(
                "unknown_command",
                f"Unknown command {action!r}; one of: {', '.join(schemas.CENTRAL_ACTIONS)}.",
            )
        try:
            schemas.validate(action, payload)
        except OCPPCallError as exc:
            raise DomainError(
                "invalid_payload",
                f"{exc.code}: {exc.description}",
                {"fields": {"payload": [exc.description]}},
            ) from exc
        station = Station.objects.filter(station_id=data.validated_data["station_id"]).first()
        if station is None:
            raise NotFound("not_found", "Unknown station.")
        response = commands.station_command(station=station, action=action, payload=payload)
        return Response(
            {
                "status": response.get("status", "Accepted") if isinstance(response, dict) else "Accepted",
                "response": response,
            }
        )


class MetricsAccess(BasePermission):
    """Operators and above, or whoever presents the METRICS_TOKEN bearer token."""

    def has_permission(self, request, view) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and metrics.token_matches(
            token.strip(), gateway_settings.METRICS_TOKEN
        ):
            return True
        return has_role(request.user, Role.OPERATOR)


class MetricsView(APIView):
    permission_classes = [MetricsAccess]

    @extend_schema(responses={(200, "text/plain"): str})
    def get(self, request):
        return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
