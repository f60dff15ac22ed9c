"""Back office for tariffs, charging sessions, transactions and meter values."""

from django.contrib import admin
from django.utils.html import format_html_join

from billing import sessions, tariffs
from billing.models import MeterValue, Session, Tariff, Transaction
from billing.tariff_form import TariffForm, tariff_problems


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Validated by `tariffs.tariff_validate`, like the API; saving a tariff
    valid again prices the sessions it left flagged."""

    form = TariffForm
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
        "can_be_priced",
        "created_at",
    )
    list_filter = ("is_active", "currency")
    search_fields = ("name",)
    filter_horizontal = ("stations",)
    readonly_fields = ("problems",)
    fieldsets = (
        (None, {"fields": ("name", "currency", "problems")}),
        ("Prices", {"fields": (*tariffs.PRICES, "idle_grace_minutes")}),
        ("Periods", {"fields": ("periods",)}),
        ("Where and when", {"fields": ("stations", "valid_from", "valid_to")}),
    )

    @admin.display(boolean=True, description="Can be priced")
    def can_be_priced(self, tariff: Tariff) -> bool:
        return tariffs.tariff_errors(tariff) is None

    @admin.display(description="Problems")
    def problems(self, tariff: Tariff) -> str:
        lines = tariff_problems(tariff) if tariff.pk else []
        if not lines:
            return "None"
        return format_html_join("", '<div class="errornote">{}</div>', [(line,) for line in lines])

    def save_model(self, request, obj, form, change):
        tariffs.tariff_save(tariff=obj)
        sessions.sessions_reprice(tariff=obj)


class PricingErrorFilter(admin.SimpleListFilter):
    title = "pricing"
    parameter_name = "pricing"

    def lookups(self, request, model_admin):
        return [("error", "Could not be priced"), ("ok", "Priced")]

    def queryset(self, request, queryset):
        if self.value() == "error":
            return queryset.exclude(pricing_error="")
        if self.value() == "ok":
            return queryset.filter(pricing_error="")
        return queryset


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
        "pricing_error",
    )
    list_filter = ("status", "currency", PricingErrorFilter)
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
