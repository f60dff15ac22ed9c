"""Back office for what stations report about themselves: events (firmware,
diagnostics, the 1.6 security extension) and the vendor quirks taken from
their frames. Read-only: a record of what the stations said. Registered by
`stations.admin`."""

from django.contrib import admin

from stations.models import ProtocolViolation, StationEvent


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StationEvent)
class StationEventAdmin(_ReadOnlyAdmin):
    list_display = ("received_at", "station", "kind", "status", "timestamp", "request_id")
    list_filter = ("kind",)
    search_fields = ("station__station_id", "status")
    list_select_related = ("station",)
    date_hierarchy = "received_at"


@admin.register(ProtocolViolation)
class ProtocolViolationAdmin(_ReadOnlyAdmin):
    list_display = ("last_seen", "station", "action", "kind", "field", "count", "first_seen")
    list_filter = ("kind", "action")
    search_fields = ("station__station_id", "field")
    list_select_related = ("station",)
    readonly_fields = (
        "station",
        "action",
        "kind",
        "field",
        "detail",
        "count",
        "first_seen",
        "last_seen",
        "example",
    )
