"""`GET /ocpp/sessions/export`: completed sessions for invoicing, as a CSV download (admin+)."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from billing.exports import export_bounds, export_csv_lines, sessions_for_invoicing
from evpower.api.errors import ErrorOutput
from evpower.api.filters import unknown_parameter_check
from evpower.api.permissions import IsAdmin


class _FirstRenderer(BaseContentNegotiation):
    """The CSV is the answer whatever `Accept` says; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SessionExportView(APIView):
    permission_classes = [IsAdmin]
    content_negotiation_class = _FirstRenderer
    query_params = ("from", "to", "station_id")

    @extend_schema(
        operation_id="ocpp_sessions_export",
        summary="Completed sessions for invoicing, as CSV",
        description=(
            "Sessions completed (stopped) in the period, oldest first: session_id, station_id, "
            "connector_id, id_tag, owner, owner_email, started_at, stopped_at, duration_seconds, "
            "energy_kwh, cost, currency, tariff_name, transaction_id, stop_reason. The same as "
            "`manage.py export_sessions`."
        ),
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.STR,
                required=True,
                description="Start: a date (a whole UTC day) or an ISO 8601 date-time.",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.STR,
                required=True,
                description="End: a date (that day included) or an ISO 8601 date-time (excluded).",
            ),
            OpenApiParameter("station_id", OpenApiTypes.STR, description="Only this station."),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, a header line first."),
            400: ErrorOutput,
            401: ErrorOutput,
            403: ErrorOutput,
        },
    )
    def get(self, request):
        unknown_parameter_check(request, self)
        params = request.query_params
        lower, upper = export_bounds(start=params.get("from", ""), end=params.get("to", ""))
        rows = sessions_for_invoicing(start=lower, end=upper, station_id=params.get("station_id") or None)
        # Built whole: under ASGI Django would buffer a sync stream anyway (with a warning).
        response = HttpResponse("".join(export_csv_lines(rows)), content_type="text/csv; charset=utf-8")
        name = f"sessions-{lower:%Y%m%dT%H%M}-{upper:%Y%m%dT%H%M}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
