"""Tariff endpoints: list, create, detail, change, delete (archive when used)."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics

from billing import sessions, tariffs
from billing.models import Tariff
from billing.serializers import (
    TariffSerializer,
)
from evpower.api.permissions import ReadClientWriteAdmin
from stations.models import Station


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
        sessions.sessions_reprice(tariff=serializer.instance)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted, or archived if sessions used it.")})
    def delete(self, request, *args, **kwargs):
        return super().delete(request, *args, **kwargs)

    def perform_destroy(self, instance):
        tariffs.tariff_delete(tariff=instance)
