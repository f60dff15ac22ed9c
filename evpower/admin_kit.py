"""What every back-office page shares: the themed base classes, read-only
history, CSV export, times in the station's zone, reporting each station's
answer to a command, and the intermediate form page of actions with parameters."""

import csv
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import datetime

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from evpower.access import Can, may

__all__ = [
    "BackOfficeAdmin",
    "HistoryAdmin",
    "ReadOnlyTabularInline",
    "StackedInline",
    "TabularInline",
    "action_form_page",
    "badge",
    "csv_export_action",
    "local_time",
    "report_outcomes",
]


class BackOfficeAdmin(ModelAdmin):
    """A themed ModelAdmin; model permissions come from the role table (`evpower.access`)."""

    list_per_page = 50
    list_filter_submit = True  # range filters need a submit button
    warn_unsaved_form = True


class HistoryAdmin(BackOfficeAdmin):
    """History is what happened: nobody adds or edits it here; a superadmin may delete."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return may(request.user, Can.EDIT_HISTORY)


class ReadOnlyTabularInline(TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def local_time(value: datetime | None, zone: str | None) -> str:
    """`value` in the station's time zone to the second, with the zone named."""
    if value is None:
        return "—"
    try:
        tz = zoneinfo.ZoneInfo(zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    local = timezone.localtime(value, tz)
    name = local.tzname()
    return f"{local:%Y-%m-%d %H:%M:%S} {name}" + ("" if name == tz.key else f" ({tz.key})")


# Command outcomes (stations.operations tells them apart) ------------------------

ACCEPTED, REJECTED, OFFLINE, TIMEOUT, STATION_ERROR = (
    "accepted",
    "rejected",
    "offline",
    "timeout",
    "station_error",
)
_LEVEL = {
    ACCEPTED: messages.SUCCESS,
    REJECTED: messages.WARNING,
    OFFLINE: messages.WARNING,
    TIMEOUT: messages.ERROR,
    STATION_ERROR: messages.ERROR,
}
_LABEL = {
    ACCEPTED: _("accepted"),
    REJECTED: _("rejected"),
    OFFLINE: _("offline, nothing sent"),
    TIMEOUT: _("no answer (timeout)"),
    STATION_ERROR: _("station error"),
}


def report_outcomes(request: HttpRequest, action: str, outcomes: Iterable) -> None:
    """One admin message per station: `outcome.result` (accepted, rejected,
    offline, timeout, station_error) with the station's own words."""
    for outcome in outcomes:
        detail = f" — {outcome.detail}" if outcome.detail else ""
        messages.add_message(
            request,
            _LEVEL[outcome.result],
            f"{outcome.target}: {action} {_LABEL[outcome.result]}{detail}",
        )


# Actions with parameters --------------------------------------------------------


def action_form_page(
    modeladmin,
    request: HttpRequest,
    queryset,
    *,
    form_class: type[forms.Form],
    title: str,
    action_name: str,
    run: Callable[[forms.Form], None],
    initial: dict | None = None,
) -> HttpResponse | None:
    """An action's intermediate page: the form, then `run(form)` once submitted valid."""
    form = form_class(request.POST if "apply" in request.POST else None, initial=initial)
    if "apply" in request.POST and form.is_valid():
        run(form)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "opts": modeladmin.model._meta,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "admin/evpower/action_form.html", context)


# CSV export ---------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


def csv_export_action(columns: list[tuple[str, Callable]], filename: str):
    """An admin action exporting the selected rows as CSV, `columns` as (header, row -> value)."""

    def export_csv(modeladmin, request, queryset):
        writer = csv.writer(_Echo())
        rows = (writer.writerow([value(obj) for _, value in columns]) for obj in queryset.iterator(2000))
        header = writer.writerow([name for name, _ in columns])
        response = StreamingHttpResponse(_chain(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    export_csv.short_description = _("Export selected as CSV")
    export_csv.allowed_permissions = ("view",)
    return export_csv


def _chain(first, rest):
    yield first
    yield from rest


def badge(text: str, tone: str) -> str:
    """A coloured label (tone: green, red, amber, blue, grey)."""
    return format_html('<span class="evp-badge evp-{}">{}</span>', tone, text)
