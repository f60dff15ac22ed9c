"""Completed sessions for invoicing: one selector, one CSV layout, used by
`manage.py export_sessions` and `GET /ocpp/sessions/export`."""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.utils.dateparse import parse_date, parse_datetime

from billing.models import Session, SessionStatus
from billing.pricing import currency_is_valid, quantize_money
from evpower.errors import Invalid

COLUMNS = (
    "session_id",
    "station_id",
    "connector_id",
    "id_tag",
    "owner",
    "owner_email",
    "started_at",
    "stopped_at",
    "duration_seconds",
    "energy_kwh",
    "cost",
    "currency",
    "tariff_name",
    "transaction_id",
    "stop_reason",
)


@dataclass(frozen=True)
class ExportRow:
    session_id: int
    station_id: str
    connector_id: int
    id_tag: str
    owner: str
    owner_email: str
    started_at: datetime | None
    stopped_at: datetime
    duration_seconds: int
    energy_kwh: Decimal
    cost: Decimal
    currency: str
    tariff_name: str
    transaction_id: int | None
    stop_reason: str


def export_bounds(*, start: str, end: str) -> tuple[datetime, datetime]:
    """The period `[start, end)` from ISO 8601 text: a date is a whole UTC day
    (`end` included), a date-time is taken as given (UTC without an offset).
    Raises Invalid naming the field."""
    lower = _moment(start, "from", end_of_day=False)
    upper = _moment(end, "to", end_of_day=True)
    if upper <= lower:
        raise Invalid({"to": ["Must be after from."]})
    return lower, upper


def _moment(text: str, field: str, *, end_of_day: bool) -> datetime:
    text = (text or "").strip()
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if day is not None:
        day = day + timedelta(days=1) if end_of_day else day
        return datetime.combine(day, time.min, tzinfo=UTC)
    if moment is None:
        raise Invalid({field: ["A date (2026-01-31) or an ISO 8601 date-time is required."]})
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sessions_for_invoicing(
    *, start: datetime, end: datetime, station_id: str | None = None
) -> Iterator[ExportRow]:
    """Completed sessions that stopped in `[start, end)`, oldest first, with
    what an invoice needs (the cost rounded to the currency's minor unit)."""
    sessions = (
        Session.objects.filter(status=SessionStatus.COMPLETED, stopped_at__gte=start, stopped_at__lt=end)
        .select_related("station", "user", "tariff")
        .order_by("stopped_at", "id")
    )
    if station_id:
        sessions = sessions.filter(station__station_id=station_id)
    for session in sessions.iterator(chunk_size=1000):
        yield _row(session)


def _row(session: Session) -> ExportRow:
    snapshot = session.tariff_snapshot or {}
    priced = bool(snapshot) and currency_is_valid(session.currency)
    duration = (
        max(int((session.stopped_at - session.started_at).total_seconds()), 0) if session.started_at else 0
    )
    return ExportRow(
        session_id=session.pk,
        station_id=session.station.station_id,
        connector_id=session.connector_id,
        id_tag=session.id_tag,
        owner=session.user.username if session.user else "",
        owner_email=session.user.email if session.user else "",
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        duration_seconds=duration,
        energy_kwh=session.energy_kwh,
        cost=quantize_money(session.cost, session.currency) if priced else Decimal("0.00"),
        currency=session.currency if priced else "",
        tariff_name=snapshot.get("name") or (session.tariff.name if session.tariff else ""),
        transaction_id=session.transaction_id,
        stop_reason=session.stop_reason,
    )


# Text a spreadsheet would run as a formula (CSV injection): kept as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def export_csv_lines(rows: Iterable[ExportRow]) -> Iterator[str]:
    """The CSV text, a header line then one line per row (for streaming)."""
    buffer = _LineBuffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield buffer.take()
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in COLUMNS])
        yield buffer.take()


class _LineBuffer:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def take(self) -> str:
        text, self._parts = "".join(self._parts), []
        return text
