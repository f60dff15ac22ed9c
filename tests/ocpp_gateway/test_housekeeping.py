"""The gateway's periodic jobs: stale starts fail, reservations expire, the log is pruned."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from billing.models import Session, SessionStatus
from ocpp_gateway import housekeeping
from stations.models import MessageLog, Reservation
from tests.factories import IdTagFactory, StationFactory

pytestmark = pytest.mark.django_db


def _log(station_id: str, age: timedelta) -> MessageLog:
    return MessageLog.objects.create(
        station_id=station_id,
        direction="in",
        message_type="CALL",
        action="Heartbeat",
        created_at=datetime.now(UTC) - age,
    )


def test_jobs_fail_stale_starts_expire_reservations_and_prune_the_log(settings):
    settings.OCPP = {**settings.OCPP, "MESSAGE_LOG_DAYS": 30}
    now = datetime.now(UTC)
    station = StationFactory()
    tag = IdTagFactory()
    stale = Session.objects.create(
        station=station,
        connector_id=1,
        id_tag=tag.id_tag,
        status=SessionStatus.STARTING,
        remote_start_at=now - timedelta(hours=1),
    )
    fresh = Session.objects.create(
        station=station, connector_id=2, id_tag=tag.id_tag, status=SessionStatus.STARTING, remote_start_at=now
    )
    reservation = Reservation.objects.create(
        station=station,
        connector_id=1,
        id_tag=tag.id_tag,
        status="accepted",
        expiry_date=now - timedelta(minutes=1),
    )
    old, recent = _log("CP-OLD", timedelta(days=31)), _log("CP-NEW", timedelta(days=29))

    call_command("housekeeping")

    stale.refresh_from_db()
    fresh.refresh_from_db()
    reservation.refresh_from_db()
    assert stale.status == SessionStatus.FAILED
    assert fresh.status == SessionStatus.STARTING
    assert reservation.status == "expired"
    assert not MessageLog.objects.filter(pk=old.pk).exists()
    assert MessageLog.objects.filter(pk=recent.pk).exists()


def test_jobs_are_not_rerun_before_they_are_due(monkeypatch):
    calls = []

    def job(now):
        calls.append(now)
        return 0

    monkeypatch.setattr(housekeeping, "JOBS", ((job, 3600),))
    last_run: dict = {}
    housekeeping.run_due_jobs(last_run=last_run)
    housekeeping.run_due_jobs(last_run=last_run)
    assert len(calls) == 1
