"""Back office for stations, connectors, id tags, status history, events,
the message log and the station setup (reservations, charging profiles,
local lists). Commands really go to the stations (`stations.operations`)."""

import json
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from evpower.access import Can, may
from evpower.admin_kit import (
    BackOfficeAdmin,
    HistoryAdmin,
    ReadOnlyTabularInline,
    action_form_page,
    badge,
    local_time,
    report_outcomes,
)
from evpower.clock import utcnow
from stations import operations
from stations.local_lists import local_list_sync
from stations.models import (
    ChargingProfile,
    Connector,
    DataTransferRecord,
    IdTag,
    InstalledChargingProfile,
    LocalAuthList,
    MessageLog,
    ProtocolViolation,
    Reservation,
    Station,
    StationEvent,
    StatusRecord,
    valid_time_zone,
)
from stations.registry import StationInUse, station_delete, station_update
from stations.reservations import reservation_cancel, reservation_create
from stations.selectors import last_seen, presence_all, presence_of

STATUS_TONE = {
    "Available": "green",
    "Preparing": "blue",
    "Charging": "blue",
    "SuspendedEV": "amber",
    "SuspendedEVSE": "amber",
    "Finishing": "blue",
    "Reserved": "amber",
    "Unavailable": "grey",
    "Faulted": "red",
}
REGISTRATION_TONE = {"accepted": "green", "pending": "amber", "rejected": "red"}


def connector_badges(connectors) -> str:
    return format_html_join(
        "",
        "{}",
        (
            (badge(f"{c.connector_id}: {c.status or '?'}", STATUS_TONE.get(c.status, "grey")),)
            for c in connectors
        ),
    )


# Commands: the forms of actions with parameters -----------------------------------


def _select(choices):
    return forms.ChoiceField(choices=choices, widget=UnfoldAdminSelectWidget)


class ConnectorForm(forms.Form):
    connector_id = forms.IntegerField(
        label=_("Connector"), min_value=1, initial=1, widget=UnfoldAdminTextInputWidget
    )


class ReserveForm(forms.Form):
    connector_id = forms.IntegerField(
        label=_("Connector"), min_value=0, initial=1, widget=UnfoldAdminTextInputWidget
    )
    id_tag = forms.CharField(label=_("Id tag"), max_length=20, widget=UnfoldAdminTextInputWidget)
    minutes = forms.IntegerField(
        label=_("Reserved for (minutes)"),
        min_value=1,
        max_value=24 * 60,
        initial=30,
        widget=UnfoldAdminTextInputWidget,
    )


class AvailabilityForm(forms.Form):
    connector_id = forms.IntegerField(
        label=_("Connector"),
        min_value=0,
        initial=0,
        help_text=_("0: the whole station"),
        widget=UnfoldAdminTextInputWidget,
    )
    type = _select([("Inoperative", _("Inoperative")), ("Operative", _("Operative"))])


TRIGGERS = [
    "StatusNotification",
    "Heartbeat",
    "BootNotification",
    "MeterValues",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
]


class TriggerForm(forms.Form):
    requested_message = _select([(t, t) for t in TRIGGERS])
    requested_message.label = _("Message")
    connector_id = forms.IntegerField(
        label=_("Connector"),
        min_value=0,
        required=False,
        help_text=_("Empty: the station decides"),
        widget=UnfoldAdminTextInputWidget,
    )


class ChangeConfigurationForm(forms.Form):
    key = forms.CharField(label=_("Key"), max_length=50, widget=UnfoldAdminTextInputWidget)
    value = forms.CharField(
        label=_("Value"), max_length=500, required=False, widget=UnfoldAdminTextInputWidget
    )


# Stations ---------------------------------------------------------------------------


class OnlineFilter(admin.SimpleListFilter):
    title = _("online")
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", _("Online")), ("no", _("Offline"))]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        online = list(presence_all())
        if self.value() == "yes":
            return queryset.filter(station_id__in=online)
        return queryset.exclude(station_id__in=online)


class ConnectorStatusFilter(admin.SimpleListFilter):
    title = _("connector status")
    parameter_name = "connector_status"

    def lookups(self, request, model_admin):
        return [(status, status) for status in STATUS_TONE]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(connectors__status=self.value()).distinct()
        return queryset


class StationForm(forms.ModelForm):
    new_password = forms.CharField(
        label=_("New password"),
        required=False,
        strip=False,
        widget=UnfoldAdminPasswordWidget(attrs={"autocomplete": "new-password"}),
        help_text=_("OCPP security profile 1 (HTTP Basic auth). Empty: unchanged."),
    )
    clear_password = forms.BooleanField(
        label=_("Clear the password"),
        required=False,
        help_text=_("The station connects without one."),
        widget=UnfoldBooleanSwitchWidget,
    )

    class Meta:
        model = Station
        fields = (
            "station_id",
            "registration_status",
            "time_zone",
            "tolerance",
            "vendor",
            "model",
            "serial_number",
        )

    def clean_time_zone(self):
        zone = self.cleaned_data["time_zone"]
        if not valid_time_zone(zone):
            raise forms.ValidationError(_("Not an IANA time zone (for example Europe/Moscow)."))
        return zone

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("clear_password"):
            raise forms.ValidationError(_("Set a new password or clear it, not both."))
        return data


class ConnectorInline(ReadOnlyTabularInline):
    model = Connector
    fields = ("connector_id", "status_badge", "error_code", "info", "vendor_error_code", "reported")
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = _("Connectors (live status)")

    @display(description=_("status"))
    def status_badge(self, connector):
        return badge(connector.status or "?", STATUS_TONE.get(connector.status, "grey"))

    @display(description=_("reported at"))
    def reported(self, connector):
        return local_time(connector.status_timestamp or connector.updated_at, connector.station.time_zone)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("station")


@admin.register(Station)
class StationAdmin(SimpleHistoryAdmin, BackOfficeAdmin):
    form = StationForm
    list_display = (
        "station_id",
        "online_badge",
        "last_seen_at",
        "connector_statuses",
        "vendor",
        "model",
        "firmware_version",
        "registration_badge",
    )
    list_filter = (
        OnlineFilter,
        "registration_status",
        ConnectorStatusFilter,
        "vendor",
        "model",
    )
    search_fields = ("station_id", "serial_number", "charge_box_serial_number")
    inlines = [ConnectorInline]
    actions = [
        "reset_soft",
        "reset_hard",
        "unlock_connector",
        "change_availability",
        "trigger_message",
        "get_configuration",
        "change_configuration",
        "clear_cache",
        "reserve",
    ]
    actions_detail = ["detail_get_configuration", "detail_change_configuration", "detail_reset_soft"]

    def get_fieldsets(self, request, obj=None):
        settings_fields = [
            "station_id",
            "registration_status",
            "time_zone",
            "tolerance",
            "new_password",
            "clear_password",
        ]
        if obj is None:
            return [(None, {"fields": [*settings_fields, "vendor", "model", "serial_number"]})]
        return [
            (_("Station"), {"fields": [*settings_fields, "has_password"]}),
            (_("Live"), {"fields": ["online_badge", "last_seen_at", "connected_since", "active_charging"]}),
            (
                _("Boot information"),
                {
                    "fields": [
                        "vendor",
                        "model",
                        "serial_number",
                        "charge_box_serial_number",
                        "firmware_version",
                        "iccid",
                        "imsi",
                        "meter_type",
                        "meter_serial_number",
                        "last_boot_local",
                        "firmware_state",
                        "diagnostics_state",
                    ]
                },
            ),
            (_("Configuration"), {"fields": ["configuration_table"]}),
            (_("Recent messages"), {"fields": ["recent_messages"]}),
            (_("Recent events"), {"fields": ["recent_events"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        computed = [
            "online_badge",
            "last_seen_at",
            "connected_since",
            "has_password",
            "last_boot_local",
            "firmware_state",
            "diagnostics_state",
            "configuration_table",
            "recent_messages",
            "recent_events",
            "active_charging",
        ]
        if obj is None:
            return computed
        # Reported by the station at each boot: an edit here would be overwritten.
        boot = [
            "vendor",
            "model",
            "serial_number",
            "charge_box_serial_number",
            "firmware_version",
            "iccid",
            "imsi",
            "meter_type",
            "meter_serial_number",
        ]
        return [*computed, *boot]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("connectors", queryset=Connector.objects.order_by("connector_id")))
        )

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class LiveChangeList(base):
            def get_results(self, request):
                super().get_results(request)
                # One presence look-up for the whole page, not one per row.
                live = presence_all()
                for station in self.result_list:
                    station.live = live.get(station.station_id)

        return LiveChangeList

    def get_object(self, request, object_id, from_field=None):
        station = super().get_object(request, object_id, from_field)
        if station is not None:
            station.live = presence_of(station_id=station.station_id).get(station.station_id)
        return station

    # Columns and read-only fields

    @display(description=_("online"))
    def online_badge(self, station):
        if getattr(station, "live", None):
            return badge(_("online"), "green")
        return badge(_("offline"), "grey")

    @display(description=_("last seen"))
    def last_seen_at(self, station):
        return local_time(last_seen(station=station, live=getattr(station, "live", None)), station.time_zone)

    @display(description=_("connected since"))
    def connected_since(self, station):
        live = getattr(station, "live", None)
        if not live:
            return "—"
        return local_time(datetime.fromisoformat(live["connected_since"]), station.time_zone)

    @display(description=_("connectors"))
    def connector_statuses(self, station):
        return connector_badges(station.connectors.all()) or "—"

    @display(description=_("registration"))
    def registration_badge(self, station):
        return badge(
            station.get_registration_status_display(), REGISTRATION_TONE[station.registration_status]
        )

    @display(description=_("password set"), boolean=True)
    def has_password(self, station):
        return bool(station.password_hash)

    @display(description=_("last boot"))
    def last_boot_local(self, station):
        return local_time(station.last_boot_at, station.time_zone)

    @display(description=_("firmware status"))
    def firmware_state(self, station):
        if not station.firmware_status:
            return "—"
        return f"{station.firmware_status} ({local_time(station.firmware_status_at, station.time_zone)})"

    @display(description=_("diagnostics status"))
    def diagnostics_state(self, station):
        if not station.diagnostics_status:
            return "—"
        return (
            f"{station.diagnostics_status} ({local_time(station.diagnostics_status_at, station.time_zone)})"
        )

    @display(description=_("active charging"))
    def active_charging(self, station):
        # Filled in by billing's admin (billing owns sessions).
        return "—"

    @display(description=_("stored configuration"))
    def configuration_table(self, station):
        config = station.configuration or {}
        if not config:
            return _("Not known yet: use “Get configuration”.")
        rows = []
        for key in sorted(config):
            entry = config[key] if isinstance(config[key], dict) else {"value": config[key]}
            value = entry.get("value")
            rows.append(
                (key, "" if value is None else value, _("read-only") if entry.get("readonly") else "")
            )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            '<table class="evp-table"><tr><th>{}</th><th>{}</th><th></th></tr>{}</table>',
            _("key"),
            _("value"),
            body,
        )

    @display(description=_("last 20 messages"))
    def recent_messages(self, station):
        log = MessageLog.objects.filter(station_id=station.station_id).order_by("-created_at", "-id")[:20]
        rows = [
            (
                local_time(m.created_at, station.time_zone),
                m.direction,
                m.message_type,
                m.action,
                _payload_short(m.payload),
            )
            for m in log
        ]
        if not rows:
            return "—"
        link = reverse("admin:stations_messagelog_changelist") + f"?station_id={station.station_id}"
        return format_html(
            '<table class="evp-table">{}</table><a href="{}">{}</a>',
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>", rows
            ),
            link,
            _("All messages of this station"),
        )

    @display(description=_("last 20 status changes and events"))
    def recent_events(self, station):
        statuses = [
            (r.received_at, f"{_('connector')} {r.connector_id}", f"{r.status} / {r.error_code} {r.info}")
            for r in station.status_history.order_by("-received_at", "-id")[:20]
        ]
        events = [(e.received_at, e.get_kind_display(), e.status) for e in station.events.all()[:20]]
        rows = sorted(statuses + events, key=lambda row: row[0], reverse=True)[:20]
        if not rows:
            return "—"
        return format_html(
            '<table class="evp-table">{}</table>',
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((local_time(at, station.time_zone), what, text) for at, what, text in rows),
            ),
        )

    # Saving through the registry's services

    def save_model(self, request, obj, form, change):
        password = form.cleaned_data.get("new_password")
        if form.cleaned_data.get("clear_password"):
            password = None
        elif not password:
            password = ...  # unchanged
        if not change:
            obj.set_password(password if password is not ... else None)
            obj.save()
            return
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.Meta.fields}
        if password is not ...:
            data["password"] = password
        station_update(station=obj, data=data)

    def delete_model(self, request, obj):
        try:
            station_delete(station=obj)
        except StationInUse:
            messages.error(request, _("%(station)s has billing history and is kept.") % {"station": obj})

    def delete_queryset(self, request, queryset):
        for station in queryset:
            self.delete_model(request, station)

    # Commands

    def has_command_permission(self, request, obj=None) -> bool:
        return may(request.user, Can.COMMAND_STATIONS)

    def _send(self, request, queryset, action_name, payload):
        outcomes = operations.stations_command(stations=queryset, action=action_name, payload=payload)
        report_outcomes(request, action_name, outcomes)

    @admin.action(description=_("Reset (soft)"), permissions=["command"])
    def reset_soft(self, request, queryset):
        self._send(request, queryset, "Reset", {"type": "Soft"})

    @admin.action(description=_("Reset (hard)"), permissions=["command"])
    def reset_hard(self, request, queryset):
        self._send(request, queryset, "Reset", {"type": "Hard"})

    @admin.action(description=_("Clear cache"), permissions=["command"])
    def clear_cache(self, request, queryset):
        self._send(request, queryset, "ClearCache", {})

    @admin.action(description=_("Get configuration"), permissions=["command"])
    def get_configuration(self, request, queryset):
        outcomes = operations.stations_command(stations=queryset, action="GetConfiguration", payload={})
        outcomes = [
            operations.Outcome(
                o.target,
                o.result,
                _("%(count)d keys stored") % {"count": len((o.response or {}).get("configurationKey", []))}
                if o.result == operations.ACCEPTED
                else o.detail,
                o.response,
            )
            for o in outcomes
        ]
        report_outcomes(request, "GetConfiguration", outcomes)

    @admin.action(description=_("Unlock connector…"), permissions=["command"])
    def unlock_connector(self, request, queryset):
        return action_form_page(
            self,
            request,
            queryset,
            form_class=ConnectorForm,
            title=_("Unlock connector"),
            action_name="unlock_connector",
            run=lambda form: self._send(
                request, queryset, "UnlockConnector", {"connectorId": form.cleaned_data["connector_id"]}
            ),
        )

    @admin.action(description=_("Reserve…"), permissions=["command"])
    def reserve(self, request, queryset):
        """ReserveNow through the reservations service: stored, sent, the answer kept."""

        def run(form):
            data = form.cleaned_data
            expiry = utcnow() + timedelta(minutes=data["minutes"])
            outcomes = []
            for station in queryset:

                def reserve_one(station=station):
                    reservation = reservation_create(
                        actor=request.user,
                        station=station,
                        connector_id=data["connector_id"],
                        id_tag=data["id_tag"],
                        expiry_date=expiry,
                    )
                    return {"status": reservation.station_status}

                outcomes.append(operations.outcome_of_call(station.station_id, reserve_one))
            report_outcomes(request, "ReserveNow", outcomes)

        return action_form_page(
            self,
            request,
            queryset,
            form_class=ReserveForm,
            title=_("Reserve"),
            action_name="reserve",
            run=run,
        )

    @admin.action(description=_("Change availability…"), permissions=["command"])
    def change_availability(self, request, queryset):
        return action_form_page(
            self,
            request,
            queryset,
            form_class=AvailabilityForm,
            title=_("Change availability"),
            action_name="change_availability",
            run=lambda form: self._send(
                request,
                queryset,
                "ChangeAvailability",
                {"connectorId": form.cleaned_data["connector_id"], "type": form.cleaned_data["type"]},
            ),
        )

    @admin.action(description=_("Trigger message…"), permissions=["command"])
    def trigger_message(self, request, queryset):
        def run(form):
            payload = {"requestedMessage": form.cleaned_data["requested_message"]}
            if form.cleaned_data["connector_id"] is not None:
                payload["connectorId"] = form.cleaned_data["connector_id"]
            self._send(request, queryset, "TriggerMessage", payload)

        return action_form_page(
            self,
            request,
            queryset,
            form_class=TriggerForm,
            title=_("Trigger message"),
            action_name="trigger_message",
            run=run,
        )

    @admin.action(description=_("Change configuration…"), permissions=["command"])
    def change_configuration(self, request, queryset):
        return action_form_page(
            self,
            request,
            queryset,
            form_class=ChangeConfigurationForm,
            title=_("Change configuration"),
            action_name="change_configuration",
            run=lambda form: self._send(
                request,
                queryset,
                "ChangeConfiguration",
                {"key": form.cleaned_data["key"], "value": form.cleaned_data["value"]},
            ),
            initial={"key": request.GET.get("key", "")},
        )

    # The same, from a station's page

    def _back(self, object_id):
        return HttpResponseRedirect(reverse("admin:stations_station_change", args=[object_id]))

    @action(description=_("Get configuration"), url_path="get-configuration", permissions=["command"])
    def detail_get_configuration(self, request, object_id):
        self.get_configuration(request, Station.objects.filter(pk=object_id))
        return self._back(object_id)

    @action(description=_("Reset (soft)"), url_path="reset-soft", permissions=["command"])
    def detail_reset_soft(self, request, object_id):
        self.reset_soft(request, Station.objects.filter(pk=object_id))
        return self._back(object_id)

    @action(description=_("Change configuration"), url_path="change-configuration", permissions=["command"])
    def detail_change_configuration(self, request, object_id):
        response = self.change_configuration(request, Station.objects.filter(pk=object_id))
        return response or self._back(object_id)


def _payload_short(payload, limit: int = 300) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[:limit] + "…"


def station_admin_extend(*, actions=(), inlines=(), live_fields=None) -> None:
    """Let an app above stations (billing) add its actions and inlines to the
    station pages without stations importing it."""
    StationAdmin.actions = [*StationAdmin.actions, *actions]
    StationAdmin.inlines = [*StationAdmin.inlines, *inlines]
    if live_fields is not None:
        StationAdmin.active_charging = live_fields


# Connectors and history ---------------------------------------------------------------


@admin.register(Connector)
class ConnectorAdmin(HistoryAdmin):
    list_display = ("station", "connector_id", "status_badge", "error_code", "info", "reported")
    list_filter = ("status", "error_code")
    search_fields = ("station__station_id",)
    list_select_related = ("station",)

    @display(description=_("status"))
    def status_badge(self, connector):
        return badge(connector.status or "?", STATUS_TONE.get(connector.status, "grey"))

    @display(description=_("reported at"), ordering="updated_at")
    def reported(self, connector):
        return local_time(connector.status_timestamp or connector.updated_at, connector.station.time_zone)


@admin.register(IdTag)
class IdTagAdmin(SimpleHistoryAdmin, BackOfficeAdmin):
    list_display = ("id_tag", "owner", "status", "expiry_date", "parent_id_tag", "created_at")
    list_filter = ("status",)
    search_fields = ("id_tag", "parent_id_tag", "owner__username", "owner__email")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)


@admin.register(StatusRecord)
class StatusRecordAdmin(HistoryAdmin):
    list_display = (
        "received",
        "station",
        "connector_id",
        "status_badge",
        "error_code",
        "info",
        "station_time",
    )
    list_filter = (
        ("received_at", RangeDateTimeFilter),
        ("station__station_id", FieldTextFilter),
        "status",
        "error_code",
    )
    search_fields = ("station__station_id",)
    list_select_related = ("station",)

    @display(description=_("status"))
    def status_badge(self, record):
        return badge(record.status, STATUS_TONE.get(record.status, "grey"))

    @display(description=_("received"), ordering="received_at")
    def received(self, record):
        return local_time(record.received_at, record.station.time_zone)

    @display(description=_("station's timestamp"))
    def station_time(self, record):
        return local_time(record.timestamp, record.station.time_zone)


@admin.register(StationEvent)
class StationEventAdmin(HistoryAdmin):
    list_display = ("received", "station", "kind", "status", "timestamp", "request_id")
    list_filter = (("received_at", RangeDateTimeFilter), ("station__station_id", FieldTextFilter), "kind")
    search_fields = ("station__station_id", "status")
    list_select_related = ("station",)

    @display(description=_("received"), ordering="received_at")
    def received(self, event):
        return local_time(event.received_at, event.station.time_zone)


@admin.register(DataTransferRecord)
class DataTransferRecordAdmin(HistoryAdmin):
    list_display = ("received", "station", "vendor_id", "message_id", "status", "data")
    list_filter = (("received_at", RangeDateTimeFilter), ("station__station_id", FieldTextFilter), "status")
    search_fields = ("station__station_id", "vendor_id", "message_id")
    list_select_related = ("station",)

    @display(description=_("received"), ordering="received_at")
    def received(self, record):
        return local_time(record.received_at, record.station.time_zone)


@admin.register(MessageLog)
class MessageLogAdmin(HistoryAdmin):
    """Read-only: the log is a record of what was said on the wire."""

    list_display = ("created", "station_id", "direction_badge", "message_type", "action", "payload_short")
    list_filter = (
        ("created_at", RangeDateTimeFilter),
        ("station_id", FieldTextFilter),
        "direction",
        "message_type",
        ("action", FieldTextFilter),
    )
    search_fields = ("=station_id", "=unique_id")
    fields = ("created", "station_id", "direction", "message_type", "action", "unique_id", "payload_pretty")
    readonly_fields = fields
    # The table is large: no full COUNT(*) for the unfiltered list.
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # kept OCPP_MESSAGE_LOG_DAYS days, then pruned; never edited

    @display(description=_("time (UTC)"), ordering="created_at")
    def created(self, message):
        return local_time(message.created_at, "UTC")

    @display(description=_("direction"))
    def direction_badge(self, message):
        if message.direction == MessageLog.Direction.IN:
            return badge(_("station → us"), "blue")
        return badge(_("us → station"), "green")

    @display(description=_("payload"))
    def payload_short(self, message):
        return format_html('<pre class="evp-json">{}</pre>', _payload_short(message.payload, 160))

    @display(description=_("payload"))
    def payload_pretty(self, message):
        return format_html(
            '<pre class="evp-json">{}</pre>', json.dumps(message.payload, indent=2, ensure_ascii=False)
        )


# Station setup ----------------------------------------------------------------------


@admin.register(Reservation)
class ReservationAdmin(HistoryAdmin):
    list_display = ("id", "station", "connector_id", "id_tag", "user", "status", "station_status", "expiry")
    list_filter = ("status", ("expiry_date", RangeDateTimeFilter), ("station__station_id", FieldTextFilter))
    search_fields = ("station__station_id", "id_tag")
    list_select_related = ("station", "user")
    actions = ["cancel_reservations"]

    @display(description=_("expires"), ordering="expiry_date")
    def expiry(self, reservation):
        return local_time(reservation.expiry_date, reservation.station.time_zone)

    def has_command_permission(self, request, obj=None) -> bool:
        return may(request.user, Can.COMMAND_STATIONS)

    @admin.action(description=_("Cancel reservation (CancelReservation)"), permissions=["command"])
    def cancel_reservations(self, request, queryset):
        outcomes = [
            operations.outcome_of_call(
                str(reservation), lambda r=reservation: reservation_cancel(reservation=r)[1]
            )
            for reservation in queryset.select_related("station")
        ]
        report_outcomes(request, "CancelReservation", outcomes)


@admin.register(ChargingProfile)
class ChargingProfileAdmin(SimpleHistoryAdmin, BackOfficeAdmin):
    list_display = (
        "charging_profile_id",
        "description",
        "purpose",
        "stack_level",
        "kind",
        "valid_from",
        "valid_to",
    )
    list_filter = ("purpose", "kind")
    search_fields = ("=charging_profile_id", "description")


@admin.register(InstalledChargingProfile)
class InstalledChargingProfileAdmin(HistoryAdmin):
    list_display = (
        "station",
        "connector_id",
        "charging_profile_id",
        "purpose",
        "stack_level",
        "installed_at",
    )
    list_filter = ("purpose", ("station__station_id", FieldTextFilter))
    list_select_related = ("station",)


@admin.register(LocalAuthList)
class LocalAuthListAdmin(HistoryAdmin):
    list_display = ("station", "entry_count", "version", "reported_version", "synced_at")
    search_fields = ("station__station_id",)
    list_select_related = ("station",)
    actions = ["sync_full", "sync_differential"]
    readonly_fields = ("station", "entries_pretty", "version", "reported_version", "synced_at")
    fields = readonly_fields

    @display(description=_("entries"))
    def entry_count(self, local_list):
        return len(local_list.entries or {})

    @display(description=_("entries"))
    def entries_pretty(self, local_list):
        return format_html(
            '<pre class="evp-json">{}</pre>', json.dumps(local_list.entries, indent=2, ensure_ascii=False)
        )

    def has_command_permission(self, request, obj=None) -> bool:
        # As in the API: a station's authorisation list is admin's to send.
        return may(request.user, Can.MANAGE_ID_TAGS)

    def _sync(self, request, queryset, update_type):
        outcomes = [
            operations.outcome_of_call(
                local_list.station.station_id,
                lambda s=local_list.station: {
                    "status": local_list_sync(station=s, update_type=update_type).status
                },
            )
            for local_list in queryset.select_related("station")
        ]
        report_outcomes(request, "SendLocalList", outcomes)

    @admin.action(description=_("Send the full list (SendLocalList)"), permissions=["command"])
    def sync_full(self, request, queryset):
        self._sync(request, queryset, "Full")

    @admin.action(description=_("Send the changes (SendLocalList)"), permissions=["command"])
    def sync_differential(self, request, queryset):
        self._sync(request, queryset, "Differential")


@admin.register(ProtocolViolation)
class ProtocolViolationAdmin(HistoryAdmin):
    """Vendor quirks taken from stations' frames (see ocpp16.tolerance): one row
    per station, action, kind and field, with a count and the latest example."""

    list_display = ("last_seen", "station", "action", "kind", "field", "count", "first_seen")
    list_filter = ("kind", "action", ("station__station_id", FieldTextFilter))
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
