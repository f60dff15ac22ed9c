"""Local authorisation list endpoints: the desired list per station, and its sync."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.api.permissions import IsAdmin, ReadOperatorWriteAdmin
from ocpp16.times import format_time
from stations import local_lists
from stations.models import (
    Station,
)
from stations.selectors import station_or_404

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
        station = station_or_404(station_id)
        return Response(_local_list_output(station, local_lists.local_list_get(station=station)))

    @extend_schema(request=LocalListInput, responses=LocalListOutput)
    def put(self, request, station_id: str):
        station = station_or_404(station_id)
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
        station = station_or_404(station_id)
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
