"""Back office for tariffs, charging sessions, transactions and meter values."""

from django.contrib import admin

from billing.models import MeterValue, Session, Tariff, Transaction


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "currency",
        "price_per_kwh",
        "price_per_minute",
        "session_fee",
        "idle_fee_per_minute",
        "valid_from",
        "valid_to",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active", "currency")
    search_fields = ("name",)
    filter_horizontal = ("stations",)


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "station",
        "connector_id",
        "id_tag",
        "user",
        "status",
        "energy_kwh",
        "cost",
        "currency",
        "started_at",
        "stopped_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("id_tag", "station__station_id", "user__username")
    list_select_related = ("station", "user")
    raw_id_fields = ("station", "user", "tariff", "transaction")
    date_hierarchy = "created_at"


class MeterValueInline(admin.TabularInline):
    model = MeterValue
    extra = 0
    fields = ("timestamp", "measurand", "value", "unit", "phase", "context", "location")
    readonly_fields = fields
    can_delete = False
    show_change_link = False


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = (
        "transaction_id",
        "station",
        "connector_id",
        "id_tag",
        "meter_start",
        "meter_stop",
        "started_at",
        "stopped_at",
        "stop_reason",
    )
    list_filter = ("stop_reason",)
    search_fields = ("=transaction_id", "id_tag", "station__station_id")
    list_select_related = ("station",)
    raw_id_fields = ("station",)
    date_hierarchy = "started_at"
    inlines = [MeterValueInline]


@admin.register(MeterValue)
class MeterValueAdmin(admin.ModelAdmin):
    list_display = (
        "timestamp",
        "station",
        "connector_id",
        "transaction_id",
        "measurand",
        "value",
        "unit",
        "phase",
    )
    list_filter = ("measurand", "unit")
    search_fields = ("=transaction__transaction_id", "station__station_id")
    list_select_related = ("station",)
    raw_id_fields = ("station", "transaction")
    date_hierarchy = "timestamp"
    show_full_result_count = False
