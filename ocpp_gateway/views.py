"""Gateway endpoints: live connections and commands to stations."""

from asgiref.sync import sync_to_async
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.access import Can
from evpower.api.async_views import AsyncAPIView
from evpower.api.authentication import CachedTokenAuthentication
from evpower.api.errors import ErrorOutput
from evpower.api.filters import unknown_parameter_check
from evpower.api.permissions import Allowed, IsOperator, has_role
from evpower.errors import DomainError, NotFound
from evpower.models import Role
from ocpp16 import schemas
from ocpp16.errors import OCPPCallError
from ocpp_gateway import commands, metrics, presence, scrape
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
    filter_backends = []  # not a queryset: no FilterSet

    def filter_queryset(self, queryset):
        unknown_parameter_check(self.request, self)
        return queryset

    def get_queryset(self):
        return sorted(presence.connections(), key=lambda c: c["connected_since"], reverse=True)


class SendCommandInput(serializers.Serializer):
    station_id = serializers.CharField(max_length=48)
    command = serializers.CharField(max_length=64)
    payload = serializers.JSONField(default=dict)


class CommandErrorOutput(ErrorOutput):
    error_code = serializers.CharField(help_text="The station's OCPP error code.")
    error_description = serializers.CharField(help_text="The station's error text.")


def _command_station(station_id: str) -> Station | None:
    """The station, or None if unknown: one short visit to the sync thread,
    for a station no process holds (whether it is connected is
    `command_send`'s to find, on the event loop)."""
    return Station.objects.filter(station_id=station_id).only("pk", "station_id").first()


class SendCommandView(AsyncAPIView):
    """Answered on the event loop: the wait for the station's reply holds no thread."""

    authentication_classes = [CachedTokenAuthentication, SessionAuthentication]
    permission_classes = [Allowed(Can.COMMAND_STATIONS)]

    @extend_schema(
        # Documented per command by `command_schema.document_send_command`.
        request=SendCommandInput,
        responses={
            200: inline_serializer(
                "SendCommandOutput", {"status": serializers.CharField(), "response": serializers.JSONField()}
            ),
            400: OpenApiResponse(
                ErrorOutput, description="`unknown_command`, or `invalid_payload` (schema)."
            ),
            401: OpenApiResponse(ErrorOutput, description="No or a bad token."),
            403: OpenApiResponse(ErrorOutput, description="Not an operator."),
            404: OpenApiResponse(ErrorOutput, description="`not_found`: unknown station."),
            409: OpenApiResponse(ErrorOutput, description="`not_connected`: no CALL was sent."),
            502: OpenApiResponse(
                CommandErrorOutput, description="`station_error`: the station answered CALLERROR."
            ),
            503: OpenApiResponse(
                ErrorOutput, description="`unavailable`: the channel layer (Redis) is down."
            ),
            504: OpenApiResponse(
                ErrorOutput,
                description=(
                    "The CALL was sent, no reply came: `timeout`, or `disconnected` (e.g. a hard Reset)."
                ),
            ),
        },
    )
    async def post(self, request):
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
        station_id = data.validated_data["station_id"]
        # A connected station needs no database: the visit to the sync thread
        # was a good part of the round trip under load.
        station = await commands.station_connected(station_id) or await sync_to_async(_command_station)(
            station_id
        )
        if station is None:
            raise NotFound("not_found", "Unknown station.")
        response = await commands.command_send(station=station, action=action, payload=payload)
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
        return HttpResponse(scrape.metrics_text(), content_type=CONTENT_TYPE_LATEST)
