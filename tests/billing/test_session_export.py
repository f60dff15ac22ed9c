"""Completed sessions for invoicing: `manage.py export_sessions` and
`GET /ocpp/sessions/export` (one selector, one CSV layout)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from billing import transactions
from billing.exports import COLUMNS
from billing.models import Tariff
from ocpp_gateway.writer import Batch
from tests.factories import IdTagFactory, StationFactory, UserFactory

pytestmark = pytest.mark.django_db

JAN_10 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def completed_session(station, tag, *, start: datetime, minutes: int, wh: int):
    """A transaction started and stopped at the station: a billed, completed session."""
    started = transactions.transaction_start(
        station_pk=station.pk,
        connector_id=1,
        id_tag=tag.id_tag,
        meter_start=1000,
        timestamp=start,
        reservation_id=None,
        now=start,
    )
    stop = start + timedelta(minutes=minutes)
    batch = Batch()
    transactions.transaction_stop(
        batch=batch,
        station_pk=station.pk,
        transaction_id=started.transaction_id,
        id_tag=None,
        meter_stop=1000 + wh,
        timestamp=stop,
        reason="EVDisconnected",
        transaction_data=None,
        payload={},
        now=stop,
    )
    batch.flush()
    return started.transaction_id


@pytest.fixture
def network():
    Tariff.objects.create(
        name="Day rate", currency="EUR", price_per_kwh="0.30", price_per_minute="0.01", session_fee="0.50"
    )
    driver = UserFactory(username="dana", email="dana@example.com")
    tag = IdTagFactory(id_tag="DANA-1", owner=driver)
    one, two = StationFactory(station_id="CP-EXP-1"), StationFactory(station_id="=CP-EXP-2")
    completed_session(one, tag, start=JAN_10, minutes=30, wh=12_345)
    completed_session(two, tag, start=JAN_10 + timedelta(days=1), minutes=10, wh=1000)
    completed_session(one, tag, start=datetime(2026, 2, 3, 9, tzinfo=UTC), minutes=5, wh=500)  # February
    # Still charging: not for invoicing.
    transactions.transaction_start(
        station_pk=one.pk,
        connector_id=2,
        id_tag="DANA-1",
        meter_start=0,
        timestamp=JAN_10,
        reservation_id=None,
        now=JAN_10,
    )


def rows(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == COLUMNS
    return list(reader)


def export(*args) -> str:
    out = io.StringIO()
    call_command("export_sessions", *args, stdout=out)
    return out.getvalue()


def test_command_exports_completed_sessions_of_the_period_with_what_an_invoice_needs(network):
    [first, second] = rows(export("--from", "2026-01-01", "--to", "2026-01-31", "--format", "csv"))

    assert first["station_id"] == "CP-EXP-1"
    assert (first["owner"], first["owner_email"], first["id_tag"]) == ("dana", "dana@example.com", "DANA-1")
    assert (first["energy_kwh"], first["duration_seconds"]) == ("12.345", "1800")
    # 0.50 + 12.345 kWh x 0.30 + 30 min x 0.01 = 4.5035, rounded half-up to cents.
    assert (first["cost"], first["currency"], first["tariff_name"]) == ("4.50", "EUR", "Day rate")
    assert first["started_at"] == "2026-01-10T08:00:00Z" and first["stopped_at"] == "2026-01-10T08:30:00Z"
    assert first["stop_reason"] == "EVDisconnected" and first["transaction_id"]
    # A station id a spreadsheet would take for a formula stays text.
    assert second["station_id"] == "'=CP-EXP-2"


def test_command_filters_by_station_and_takes_date_times(network):
    only_one = rows(export("--from", "2026-01-01", "--to", "2026-03-01", "--station", "CP-EXP-1"))
    assert [r["stopped_at"] for r in only_one] == ["2026-01-10T08:30:00Z", "2026-02-03T09:05:00Z"]

    # A date-time end is excluded: the session that stopped at 08:30 is not in [.., 08:30).
    assert rows(export("--from", "2026-01-10T00:00:00Z", "--to", "2026-01-10T08:30:00Z")) == []


def test_command_refuses_a_bad_period():
    with pytest.raises(CommandError, match="--from"):
        export("--from", "last week", "--to", "2026-01-31")
    with pytest.raises(CommandError, match="--to: Must be after from"):
        export("--from", "2026-02-01", "--to", "2026-01-01")


def test_command_writes_a_file(network, tmp_path):
    target = tmp_path / "january.csv"
    call_command("export_sessions", "--from", "2026-01-01", "--to", "2026-01-31", "--output", str(target))
    assert len(rows(target.read_text())) == 2


def test_api_download_is_the_same_csv(network, api):
    response = api["admin"].get("/ocpp/sessions/export?from=2026-01-01&to=2026-01-31&station_id=CP-EXP-1")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="sessions-20260101')
    text = response.content.decode()
    assert text == export("--from", "2026-01-01", "--to", "2026-01-31", "--station", "CP-EXP-1")
    assert len(rows(text)) == 1


@pytest.mark.parametrize(
    ("who", "status"), [("anon", 401), ("client", 403), ("operator", 403), ("admin", 200)]
)
def test_api_download_is_for_admins(api, who, status):
    assert api[who].get("/ocpp/sessions/export?from=2026-01-01&to=2026-01-31").status_code == status


def test_api_bad_period_is_a_json_error_naming_the_field(api):
    response = api["admin"].get("/ocpp/sessions/export?from=yesterday&to=2026-01-31", HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "from" in response.json()["fields"]
