"""`/ocpp/transactions`: raw OCPP transactions, their meter values, and closing
one the station abandoned."""

import django_filters
from django.db.models import F, Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from billing import station_status
from billing.models import MeterValue, Transaction
from billing.serializers import StationStatusOutput
from billing.transactions import transaction_close_abandoned
from evpower.access import Can
from evpower.api.permissions import Allowed, IsClient, IsOperator
from evpower.errors import NotFound
from ocpp16.schemas import MAX_INTEGER

# Selectors --------------------------------------------------------------------


def transaction_list() -> QuerySet[Transaction]:
    """Newest first (ids come from a sequence), with station and session id in the same query."""
    return (
        Transaction.objects.select_related("station")
        .annotate(session_pk=F("session__id"))
        .order_by("-transaction_id")
    )


def transaction_get(*, transaction_id: int) -> Transaction | None:
    return (
        transaction_list()
        .prefetch_related(Prefetch("meter_values", queryset=MeterValue.objects.order_by("timestamp", "id")))
        .filter(pk=transaction_id)
        .first()
    )


# Serializers ------------------------------------------------------------------


class MeterValueOutput(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    measurand = serializers.CharField()
    value = serializers.CharField(help_text="As sent; energy normalised to Wh.")
    unit = serializers.CharField()
    phase = serializers.CharField()
    context = serializers.CharField()
    location = serializers.CharField()


class TransactionOutput(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    station_id = serializers.CharField(source="station.station_id")
    connector_id = serializers.IntegerField()
    id_tag = serializers.CharField()
    meter_start = serializers.IntegerField(help_text="Wh")
    meter_stop = serializers.IntegerField(allow_null=True, help_text="Wh")
    started_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    stop_reason = serializers.CharField()
    session = serializers.IntegerField(source="session_pk", allow_null=True, help_text="Session id.")


class TransactionDetailOutput(TransactionOutput):
    meter_values = MeterValueOutput(many=True, source="meter_values.all")


class TransactionCloseInput(serializers.Serializer):
    reason = serializers.CharField(
        max_length=32,
        default="Abandoned",
        help_text="Stored as the stop reason (default Abandoned).",
    )


# Views ------------------------------------------------------------------------


class TransactionFilter(django_filters.FilterSet):
    station_id = django_filters.CharFilter(field_name="station__station_id")
    id_tag = django_filters.CharFilter(lookup_expr="iexact")
    # A choice, not a BooleanFilter: that one ignores values it cannot read
    # (`open=maybe`) instead of refusing them.
    open = django_filters.ChoiceFilter(choices=[("true", "true"), ("false", "false")], method="filter_open")

    def filter_open(self, queryset, name, value):
        return queryset.filter(stopped_at__isnull=value == "true")


class TransactionListView(generics.ListAPIView):
    """`GET /ocpp/transactions` (operator+), newest first."""

    permission_classes = [IsOperator]
    serializer_class = TransactionOutput
    filterset_class = TransactionFilter

    def get_queryset(self):
        return transaction_list()


# Transaction ids are 32-bit database integers: a larger one cannot exist,
# and must not reach the database (out of range there is an error, not a miss).


def _transaction_or_404(transaction_id: str) -> Transaction:
    pk = int(transaction_id)
    tx = transaction_get(transaction_id=pk) if pk <= MAX_INTEGER else None
    if tx is None:
        raise NotFound("not_found", "Unknown transaction.")
    return tx


class TransactionDetailView(generics.GenericAPIView):
    """`GET /ocpp/transactions/{id}` (operator+), with its meter values."""

    permission_classes = [IsOperator]
    serializer_class = TransactionDetailOutput

    @extend_schema(responses={200: TransactionDetailOutput, 404: OpenApiResponse(description="Unknown id.")})
    def get(self, request, transaction_id: str):
        return Response(TransactionDetailOutput(_transaction_or_404(transaction_id)).data)


class TransactionCloseView(generics.GenericAPIView):
    """`POST /ocpp/transactions/{id}/close` (admin+)."""

    permission_classes = [Allowed(Can.CLOSE_TRANSACTIONS)]
    serializer_class = TransactionCloseInput

    @extend_schema(
        request=TransactionCloseInput,
        responses={
            200: TransactionDetailOutput,
            404: OpenApiResponse(description="Unknown id."),
            409: OpenApiResponse(description="Already closed."),
        },
    )
    def post(self, request, transaction_id: str):
        tx = _transaction_or_404(transaction_id)
        data = TransactionCloseInput(data=request.data)
        data.is_valid(raise_exception=True)
        transaction_close_abandoned(transaction_id=tx.pk, reason=data.validated_data["reason"])
        return Response(TransactionDetailOutput(_transaction_or_404(transaction_id)).data)


class StationStatusView(generics.GenericAPIView):
    """`GET /ocpp/status/{station_id}` (client+)."""

    permission_classes = [IsClient]
    serializer_class = StationStatusOutput

    @extend_schema(responses={200: StationStatusOutput, 404: OpenApiResponse(description="Unknown id.")})
    def get(self, request, station_id: str):
        result = station_status.station_status_get(station_id=station_id, user=request.user)
        if result is None:
            raise NotFound("not_found", "Unknown station.")
        return Response(StationStatusOutput(result).data)
