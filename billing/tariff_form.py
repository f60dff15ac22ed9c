"""The back office's tariff form: judged by `tariffs.tariff_validate` like the
API, with the periods edited as rows of a table (plain HTML, no JavaScript)."""

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from billing import tariffs
from billing.models import Tariff
from evpower.errors import Invalid

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EMPTY_ROWS = 3  # blank rows offered for new periods; save to get more
_ROW_INPUTS = ("start", "end", *tariffs.PERIOD_PRICES)


def _getlist(data: Mapping, key: str) -> list:
    return data.getlist(key) if hasattr(data, "getlist") else list(data.get(key) or [])


class PeriodsWidget(forms.Widget):
    """One table row per period: weekday boxes, start, end, the three prices, delete.

    A `periods` value posted as JSON text (a script, the raw form) is taken as it is."""

    def value_from_datadict(self, data, files, name):
        if name in data:
            return data[name]
        try:
            rows = min(int(data.get(f"{name}-rows", 0)), tariffs.MAX_PERIODS + EMPTY_ROWS)
        except (TypeError, ValueError):
            rows = 0
        periods = []
        for i in range(max(rows, 0)):
            prefix = f"{name}-{i}-"
            days = _getlist(data, prefix + "days")
            texts = {key: (data.get(prefix + key) or "").strip() for key in _ROW_INPUTS}
            if data.get(prefix + "delete") or not (days or any(texts.values())):
                continue  # deleted, or a blank row left as offered
            period = {"days": days, "start": texts["start"], "end": texts["end"]}
            # A price left empty in a row is 0, as it is for the tariff's own prices.
            period |= {key: texts[key] or "0" for key in tariffs.PERIOD_PRICES}
            periods.append(period)
        return periods

    def value_omitted_from_data(self, data, files, name):
        return name not in data and f"{name}-rows" not in data

    def render(self, name, value, attrs=None, renderer=None):
        periods = value if isinstance(value, list) else []
        readable = [p if isinstance(p, Mapping) else {} for p in periods]
        rows = [self._row(name, i, period) for i, period in enumerate([*readable, *[{}] * EMPTY_ROWS])]
        unreadable = [p for p in periods if not isinstance(p, Mapping) or set(p) - set(tariffs.PERIOD_FIELDS)]
        warning = (
            format_html(
                '<p class="errornote">Stored periods that cannot be read: <code>{}</code>. '
                "Enter them again below; saving replaces them.</p>",
                json.dumps(unreadable, default=str),
            )
            if unreadable
            else ""
        )
        head = format_html_join(
            "",
            "<th>{}</th>",
            [(h,) for h in ("Days", "Start", "End", "Per kWh", "Per minute", "Idle per minute", "Delete")],
        )
        return format_html(
            '{}<table class="tariff-periods"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            '<input type="hidden" name="{}-rows" value="{}">'
            '<p class="help">Days in the station\'s time zone; times "HH:MM", an end at or before '
            "the start is on the next day; an empty price is 0. Leave a row blank to add nothing.</p>",
            warning,
            head,
            mark_safe("".join(rows)),  # each row is built by format_html
            name,
            len(rows),
        )

    @staticmethod
    def _row(name: str, i: int, period: Mapping) -> str:
        prefix = f"{name}-{i}-"
        chosen = {str(d) for d in period.get("days") or [] if isinstance(d, int | str)}
        days = format_html_join(
            " ",
            '<label><input type="checkbox" name="{}" value="{}"{}> {}</label>',
            [
                (prefix + "days", n, mark_safe(" checked") if str(n) in chosen else "", day)
                for n, day in enumerate(WEEKDAYS, start=1)
            ],
        )
        inputs = format_html_join(
            "",
            '<td><input type="text" name="{}" value="{}" size="{}" placeholder="{}"></td>',
            [
                (prefix + key, period.get(key, ""), 5 if key in ("start", "end") else 8, _placeholder(key))
                for key in _ROW_INPUTS
            ],
        )
        return format_html(
            '<tr><td>{}</td>{}<td><input type="checkbox" name="{}"></td></tr>',
            days,
            inputs,
            prefix + "delete",
        )


def _placeholder(key: str) -> str:
    return "HH:MM" if key in ("start", "end") else "0.0000"


class PeriodsField(forms.Field):
    widget = PeriodsWidget

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value):
        if isinstance(value, str):
            if not value.strip():
                return []
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise forms.ValidationError("Enter valid JSON.") from None
        return value if value is not None else []

    def prepare_value(self, value):
        if isinstance(value, str):  # posted as JSON text and refused: show what was sent as rows
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return []
        return value

    def has_changed(self, initial, data):
        return json.dumps(initial, sort_keys=True, default=str) != json.dumps(
            data, sort_keys=True, default=str
        )


def _messages(name: str, value: Any) -> list[str]:
    """Field messages of Invalid as flat lines; a period's prefixed "Period n"."""
    if name != "periods" or not any(isinstance(v, Mapping) for v in value):
        return [str(m) for m in value]
    lines = []
    for n, problems in enumerate(value, start=1):
        for key, messages in (problems or {}).items():
            where = f"Period {n}" if key == "non_field_errors" else f"Period {n}, {key}"
            lines += [f"{where}: {m}" for m in messages]
    return lines


def _number(**kwargs) -> forms.CharField:
    # Text on purpose: the number is judged by tariff_validate, not by the form.
    return forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}), **kwargs)


class TariffForm(forms.ModelForm):
    currency = forms.CharField(help_text="ISO 4217 code, e.g. EUR.")
    price_per_kwh = _number()
    price_per_minute = _number(help_text="While the transaction runs.")
    session_fee = _number()
    idle_fee_per_minute = _number(help_text="After charging stopped while the car stays plugged in.")
    idle_grace_minutes = _number(label="Idle grace (minutes)")
    periods = PeriodsField(help_text="Time-of-day and day-of-week prices; the first matching row wins.")

    class Meta:
        model = Tariff
        fields = [*tariffs.FIELDS, "stations"]

    def clean(self):
        cleaned = super().clean()
        failed = set(self.errors)
        # Empty inputs are the defaults (prices and grace 0, no window).
        data = {k: cleaned[k] for k in tariffs.FIELDS if k in cleaned and cleaned[k] not in ("", None)}
        data |= {k: None for k in ("valid_from", "valid_to") if k in cleaned and cleaned[k] is None}
        try:
            valid = tariffs.tariff_validate(data=data)
        except Invalid as exc:
            for field, messages in exc.fields.items():
                if field not in failed:
                    self.add_error(field if field in self.fields else None, _messages(field, messages))
            return cleaned
        if not failed:
            cleaned.update(valid)
        return cleaned


def tariff_problems(tariff: Tariff) -> list[str]:
    """What is wrong with a stored tariff, as lines for the back office."""
    errors = tariffs.tariff_errors(tariff) or {}
    return [f"{field}: {line}" for field, messages in errors.items() for line in _messages(field, messages)]
