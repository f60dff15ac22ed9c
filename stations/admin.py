"""Back office for stations, connectors, id tags, status history and the message log."""

from django.contrib import admin

from stations import admin_history  # noqa: F401  (registers the station history admins)
from stations.models import Connector, IdTag, MessageLog, Station, StatusRecord


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    fields = ("connector_id", "status", "error_code", "info", "status_timestamp", "updated_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = (
        "station_id",
        "registration_status",
        "vendor",
        "model",
        "firmware_version",
        "has_password",
        "last_seen",
        "created_at",
    )
    list_filter = ("registration_status", "vendor", "model")
    search_fields = ("station_id", "vendor", "model", "serial_number", "charge_box_serial_number")
    # The password is set through the API (hashed there); the hash itself is no
    # use to anyone reading or editing this page.
    exclude = ("password_hash",)
    readonly_fields = (
        "firmware_version",
        "charge_box_serial_number",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "last_boot_at",
        "last_seen",
        "diagnostics_status",
        "diagnostics_status_at",
        "firmware_status",
        "firmware_status_at",
        "created_at",
    )
    inlines = [ConnectorInline]

    @admin.display(boolean=True)
    def has_password(self, station: Station) -> bool:
        return bool(station.password_hash)


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ("station", "connector_id", "status", "error_code", "info", "updated_at")
    list_filter = ("status", "error_code")
    search_fields = ("station__station_id",)
    list_select_related = ("station",)
    raw_id_fields = ("station",)


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    list_display = ("id_tag", "owner", "status", "expiry_date", "parent_id_tag", "created_at")
    list_filter = ("status",)
    search_fields = ("id_tag", "parent_id_tag", "owner__username", "owner__email")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)


@admin.register(StatusRecord)
class StatusRecordAdmin(admin.ModelAdmin):
    list_display = ("station", "connector_id", "status", "error_code", "info", "timestamp", "received_at")
    list_filter = ("status", "error_code")
    search_fields = ("station__station_id",)
    list_select_related = ("station",)
    raw_id_fields = ("station",)
    date_hierarchy = "received_at"


@admin.register(MessageLog)
class MessageLogAdmin(admin.ModelAdmin):
    """Read-only: the log is a record of what was said on the wire."""

    list_display = ("created_at", "station_id", "direction", "message_type", "action", "unique_id")
    list_filter = ("direction", "message_type", "action")
    search_fields = ("station_id", "unique_id")
    date_hierarchy = "created_at"
    # The table is large: no full COUNT(*) for the unfiltered list.
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
