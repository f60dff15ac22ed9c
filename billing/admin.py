"""Back office for tariffs, charging sessions, transactions, meter values and
unmatched stops; and what the station pages need of billing (remote start,
the running session), added to them from here."""

from datetime import timedelta
from decimal import Decimal

from babel.numbers import format_currency
from django import forms
from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter
from unfold.decorators import display
from unfold.widgets import UnfoldAdminTextInputWidget

from billing import sessions, tariffs
from billing.models import MeterValue, Session, SessionStatus, Tariff, Transaction, UnmatchedStop
from billing.sessions import KWH, session_create, session_start, session_stop
from billing.tariff_form import TariffForm, tariff_problems
from billing.transactions import transaction_close_abandoned
from evpower.access import Can, may
from evpower.admin_kit import (
    BackOfficeAdmin,
    HistoryAdmin,
    action_form_page,
    badge,
    csv_export_action,
    local_time,
    report_outcomes,
)
from evpower.clock import utcnow
from evpower.errors import DomainError
from stations import operations
from stations.admin import station_admin_extend

SESSION_TONE = {
    SessionStatus.CREATED: "grey",
    SessionStatus.STARTING: "amber",
    SessionStatus.CHARGING: "blue",
    SessionStatus.STOPPING: "amber",
    SessionStatus.COMPLETED: "green",
    SessionStatus.FAILED: "red",
    SessionStatus.CANCELLED: "grey",
}
RUNNING = (SessionStatus.STARTING, SessionStatus.CHARGING, SessionStatus.STOPPING)


def money(amount: Decimal | None, currency: str) -> str:
    """`amount` in the currency's own format (and the user's language)."""
    if amount is None:
        return "—"
    if not currency:
        return f"{amount:.2f}"
    return format_currency(amount, currency, locale=(get_language() or "en").replace("-", "_"))


def duration(start, end) -> str:
    if start is None:
        return "—"
    seconds = int(((end or utcnow()) - start).total_seconds())
    return str(timedelta(seconds=max(seconds, 0)))


def _outcome_of(target: str, call) -> operations.Outcome:
    # A session that had not started is cancelled without a message.
    return operations.outcome_of_call(target, call, nothing_sent=_("cancelled before it started"))


@admin.register(Tariff)
class TariffAdmin(SimpleHistoryAdmin, BackOfficeAdmin):
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
        (_("Prices"), {"fields": (*tariffs.PRICES, "idle_grace_minutes")}),
        (_("Periods"), {"fields": ("periods",)}),
        (_("Where and when"), {"fields": ("stations", "valid_from", "valid_to")}),
    )

    @admin.display(boolean=True, description=_("Can be priced"))
    def can_be_priced(self, tariff: Tariff) -> bool:
        return tariffs.tariff_errors(tariff) is None

    @admin.display(description=_("Problems"))
    def problems(self, tariff: Tariff) -> str:
        lines = tariff_problems(tariff) if tariff.pk else []
        if not lines:
            return _("None")
        return format_html_join("", '<div class="errornote">{}</div>', [(line,) for line in lines])

    def save_model(self, request, obj, form, change):
        tariffs.tariff_save(tariff=obj)
        sessions.sessions_reprice(tariff=obj)


class PricingErrorFilter(admin.SimpleListFilter):
    title = _("pricing")
    parameter_name = "pricing"

    def lookups(self, request, model_admin):
        return [("error", _("Could not be priced")), ("ok", _("Priced"))]

    def queryset(self, request, queryset):
        if self.value() == "error":
            return queryset.exclude(pricing_error="")
        if self.value() == "ok":
            return queryset.filter(pricing_error="")
        return queryset


# Sessions ---------------------------------------------------------------------------


class SessionAdmin(HistoryAdmin):
    list_display = (
        "id",
        "station",
        "connector_id",
        "tag_and_user",
        "status_badge",
        "energy",
        "cost_formatted",
        "duration_shown",
        "started",
        "pricing_error",
    )
    list_filter = (
        "status",
        ("created_at", RangeDateTimeFilter),
        ("station__station_id", FieldTextFilter),
        "currency",
        PricingErrorFilter,
    )
    search_fields = ("id_tag", "station__station_id", "user__username")
    list_select_related = ("station", "user", "tariff")
    date_hierarchy = "created_at"
    fields = (
        "station",
        "connector_id",
        "id_tag",
        "user",
        "status_badge",
        "transaction_link",
        "energy",
        "cost_formatted",
        "duration_shown",
        "started",
        "stopped",
        "stop_reason",
        "limit_kwh",
        "limit_amount",
        "tariff",
        "tariff_prices",
        "pricing_error",
    )
    readonly_fields = fields
    actions = ["remote_stop", "export_csv"]

    @display(description=_("id tag / user"))
    def tag_and_user(self, session):
        return f"{session.id_tag} / {session.user.username}" if session.user else session.id_tag

    @display(description=_("status"), ordering="status")
    def status_badge(self, session):
        return badge(session.get_status_display(), SESSION_TONE.get(session.status, "grey"))

    @display(description=_("energy (kWh)"), ordering="energy_kwh")
    def energy(self, session):
        return f"{session.energy_kwh:.3f}"

    @display(description=_("cost"), ordering="cost")
    def cost_formatted(self, session):
        return money(session.cost, session.currency)

    @display(description=_("duration"))
    def duration_shown(self, session):
        return duration(session.started_at, session.stopped_at)

    @display(description=_("started"), ordering="started_at")
    def started(self, session):
        return local_time(session.started_at, session.station.time_zone)

    @display(description=_("stopped"), ordering="stopped_at")
    def stopped(self, session):
        return local_time(session.stopped_at, session.station.time_zone)

    @display(description=_("transaction"))
    def transaction_link(self, session):
        if session.transaction_id is None:
            return "—"
        url = reverse("admin:billing_transaction_change", args=[session.transaction_id])
        return format_html('<a href="{}">{}</a>', url, session.transaction_id)

    @display(description=_("tariff prices (snapshot)"))
    def tariff_prices(self, session):
        snapshot = session.tariff_snapshot or {}
        if not snapshot:
            return "—"
        return format_html_join(
            "", "<div>{}: {}</div>", ((key, value) for key, value in snapshot.items() if key != "periods")
        )

    def has_command_permission(self, request, obj=None) -> bool:
        return may(request.user, Can.COMMAND_STATIONS)

    @admin.action(description=_("Remote stop (RemoteStopTransaction)"), permissions=["command"])
    def remote_stop(self, request, queryset):
        outcomes = [
            _outcome_of(f"session {s.pk}", lambda s=s: session_stop(session=s, now=utcnow())[1])
            for s in queryset.select_related("station")
        ]
        report_outcomes(request, "RemoteStopTransaction", outcomes)

    export_csv = csv_export_action(
        [
            ("id", lambda s: s.pk),
            ("station_id", lambda s: s.station.station_id),
            ("connector_id", lambda s: s.connector_id),
            ("id_tag", lambda s: s.id_tag),
            ("user", lambda s: s.user.username if s.user else ""),
            ("status", lambda s: s.status),
            ("transaction_id", lambda s: s.transaction_id or ""),
            ("energy_kwh", lambda s: s.energy_kwh),
            ("cost", lambda s: s.cost),
            ("currency", lambda s: s.currency),
            ("started_at", lambda s: s.started_at.isoformat() if s.started_at else ""),
            ("stopped_at", lambda s: s.stopped_at.isoformat() if s.stopped_at else ""),
            ("stop_reason", lambda s: s.stop_reason),
        ],
        "sessions.csv",
    )


admin.site.register(Session, SessionAdmin)


# Transactions -----------------------------------------------------------------------


class OpenFilter(admin.SimpleListFilter):
    title = _("open")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("Open")), ("no", _("Closed"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(stopped_at__isnull=self.value() == "yes")
        return queryset


class CloseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=32,
        initial="Abandoned",
        help_text=_("Kept as the stop reason; billed from the last meter sample."),
        widget=UnfoldAdminTextInputWidget,
    )


def _energy_kwh(tx: Transaction) -> str:
    end = tx.meter_stop if tx.meter_stop is not None else tx.last_meter_wh
    if end is None:
        return "—"
    return f"{Decimal(end - tx.meter_start) / KWH:.3f}"


class TransactionAdmin(HistoryAdmin):
    list_display = (
        "transaction_id",
        "station",
        "connector_id",
        "id_tag",
        "open_badge",
        "energy",
        "duration_shown",
        "started",
        "stopped",
        "stop_reason",
    )
    list_filter = (
        OpenFilter,
        ("started_at", RangeDateTimeFilter),
        ("station__station_id", FieldTextFilter),
        "stop_reason",
    )
    search_fields = ("=transaction_id", "id_tag", "station__station_id")
    list_select_related = ("station",)
    date_hierarchy = "started_at"
    fields = (
        "transaction_id",
        "station",
        "connector_id",
        "id_tag",
        "open_badge",
        "meter_start",
        "meter_stop",
        "energy",
        "duration_shown",
        "started",
        "stopped",
        "stop_reason",
        "stop_id_tag",
        "reservation_id",
        "meter_samples",
    )
    readonly_fields = fields
    actions = ["remote_stop", "close_abandoned", "export_csv"]

    @display(description=_("state"))
    def open_badge(self, tx):
        return badge(_("open"), "blue") if tx.is_open else badge(_("closed"), "grey")

    @display(description=_("energy (kWh)"))
    def energy(self, tx):
        return _energy_kwh(tx)

    @display(description=_("duration"))
    def duration_shown(self, tx):
        return duration(tx.started_at, tx.stopped_at)

    @display(description=_("started"), ordering="started_at")
    def started(self, tx):
        return local_time(tx.started_at, tx.station.time_zone)

    @display(description=_("stopped"), ordering="stopped_at")
    def stopped(self, tx):
        return local_time(tx.stopped_at, tx.station.time_zone)

    @display(description=_("meter values (latest 200)"))
    def meter_samples(self, tx):
        samples = list(tx.meter_values.order_by("-timestamp", "-id")[:200])
        if not samples:
            return "—"
        return format_html(
            '<table class="evp-table"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>'
            "{}</table>",
            _("time"),
            _("measurand"),
            _("value"),
            _("phase"),
            _("context"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        local_time(m.timestamp, tx.station.time_zone),
                        m.measurand,
                        m.value,
                        m.unit,
                        m.phase,
                        m.context,
                    )
                    for m in samples
                ),
            ),
        )

    def has_command_permission(self, request, obj=None) -> bool:
        return may(request.user, Can.COMMAND_STATIONS)

    def has_close_permission(self, request, obj=None) -> bool:
        return may(request.user, Can.CLOSE_TRANSACTIONS)

    @admin.action(description=_("Remote stop (RemoteStopTransaction)"), permissions=["command"])
    def remote_stop(self, request, queryset):
        outcomes = []
        for tx in queryset.select_related("station").prefetch_related(
            Prefetch("session", queryset=Session.objects.select_related("station"))
        ):
            target = f"transaction {tx.pk}"
            session = getattr(tx, "session", None)
            if session is not None and session.status in RUNNING:
                outcomes.append(
                    _outcome_of(target, lambda s=session: session_stop(session=s, now=utcnow())[1])
                )
            elif not tx.is_open:
                outcomes.append(operations.Outcome(target, operations.REJECTED, _("already closed")))
            else:
                outcomes += [
                    operations.Outcome(target, o.result, o.detail, o.response)
                    for o in operations.stations_command(
                        stations=[tx.station],
                        action="RemoteStopTransaction",
                        payload={"transactionId": tx.pk},
                    )
                ]
        report_outcomes(request, "RemoteStopTransaction", outcomes)

    @admin.action(description=_("Close abandoned transaction…"), permissions=["close"])
    def close_abandoned(self, request, queryset):
        def run(form):
            outcomes = []
            for tx in queryset:
                target = f"transaction {tx.pk}"
                try:
                    transaction_close_abandoned(transaction_id=tx.pk, reason=form.cleaned_data["reason"])
                except DomainError as exc:
                    outcomes.append(
                        operations.Outcome(target, operations.REJECTED, operations.error_text(exc))
                    )
                else:
                    outcomes.append(operations.Outcome(target, operations.ACCEPTED, _("closed and billed")))
            report_outcomes(request, _("Close"), outcomes)

        return action_form_page(
            self,
            request,
            queryset,
            form_class=CloseForm,
            title=_("Close abandoned transactions"),
            action_name="close_abandoned",
            run=run,
        )

    export_csv = csv_export_action(
        [
            ("transaction_id", lambda t: t.pk),
            ("station_id", lambda t: t.station.station_id),
            ("connector_id", lambda t: t.connector_id),
            ("id_tag", lambda t: t.id_tag),
            ("meter_start", lambda t: t.meter_start),
            ("meter_stop", lambda t: "" if t.meter_stop is None else t.meter_stop),
            ("energy_kwh", lambda t: _energy_kwh(t).replace("—", "")),
            ("started_at", lambda t: t.started_at.isoformat()),
            ("stopped_at", lambda t: t.stopped_at.isoformat() if t.stopped_at else ""),
            ("stop_reason", lambda t: t.stop_reason),
        ],
        "transactions.csv",
    )


admin.site.register(Transaction, TransactionAdmin)


@admin.register(MeterValue)
class MeterValueAdmin(HistoryAdmin):
    list_display = (
        "sampled",
        "station",
        "connector_id",
        "transaction_id",
        "measurand",
        "value",
        "unit",
        "phase",
        "context",
    )
    list_filter = (
        ("timestamp", RangeDateTimeFilter),
        ("station__station_id", FieldTextFilter),
        "measurand",
        "unit",
    )
    search_fields = ("=transaction__transaction_id", "station__station_id")
    list_select_related = ("station",)
    show_full_result_count = False

    @display(description=_("time"), ordering="timestamp")
    def sampled(self, value):
        return local_time(value.timestamp, value.station.time_zone)


@admin.register(UnmatchedStop)
class UnmatchedStopAdmin(HistoryAdmin):
    list_display = ("received", "station", "transaction_id", "id_tag", "meter_stop", "reason")
    list_filter = (("received_at", RangeDateTimeFilter), ("station__station_id", FieldTextFilter))
    search_fields = ("=transaction_id", "station__station_id", "id_tag")
    list_select_related = ("station",)

    @display(description=_("received"), ordering="received_at")
    def received(self, stop):
        return local_time(stop.received_at, stop.station.time_zone)


# On the station pages ---------------------------------------------------------------


class RemoteStartForm(forms.Form):
    id_tag = forms.CharField(label=_("Id tag"), max_length=20, widget=UnfoldAdminTextInputWidget)
    connector_id = forms.IntegerField(
        label=_("Connector"), min_value=1, initial=1, widget=UnfoldAdminTextInputWidget
    )
    limit_kwh = forms.DecimalField(
        label=_("Energy limit (kWh)"), required=False, min_value=0, widget=UnfoldAdminTextInputWidget
    )


@admin.action(description=_("Remote start…"), permissions=["command"])
def remote_start(modeladmin, request, queryset):
    """A billed session per station (the tag's owner pays), started with RemoteStartTransaction."""

    def run(form):
        data = form.cleaned_data
        outcomes = []
        for station in queryset:

            def start(station=station):
                now = utcnow()
                session = session_create(
                    actor=request.user,
                    station_id=station.station_id,
                    connector_id=data["connector_id"],
                    id_tag=data["id_tag"],
                    limit_kwh=data["limit_kwh"],
                    now=now,
                )
                return session_start(actor=request.user, session=session, now=now)[1]

            outcomes.append(_outcome_of(station.station_id, start))
        report_outcomes(request, "RemoteStartTransaction", outcomes)

    return action_form_page(
        modeladmin,
        request,
        queryset,
        form_class=RemoteStartForm,
        title=_("Remote start"),
        action_name="remote_start",
        run=run,
    )


@display(description=_("active charging"))
def active_charging(modeladmin, station):
    running = Session.objects.filter(station=station, status__in=RUNNING).order_by("connector_id")
    rows = [
        (
            s.connector_id,
            s.get_status_display(),
            s.id_tag,
            f"{s.energy_kwh:.3f} kWh",
            money(s.cost, s.currency),
            duration(s.started_at, None),
        )
        for s in running
    ]
    if not rows:
        return _("No session running.")
    return format_html(
        '<table class="evp-table">{}</table>',
        format_html_join(
            "", "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
        ),
    )


station_admin_extend(actions=[remote_start], live_fields=active_charging)
