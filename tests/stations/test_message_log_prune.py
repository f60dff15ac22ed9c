from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from stations import message_log
from stations.message_log import message_log_prune
from stations.models import MessageLog

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)


def _log(age: timedelta, unique_id: str, now: datetime = NOW):
    return MessageLog.objects.create(
        station_id="CP-1", direction="in", message_type="CALL", unique_id=unique_id, created_at=now - age
    )


def _left() -> set[str]:
    return set(MessageLog.objects.values_list("unique_id", flat=True))


def test_prune_deletes_only_rows_older_than_the_given_days():
    _log(timedelta(days=10, seconds=1), "old")
    _log(timedelta(days=9, hours=23), "recent")
    assert message_log_prune(now=NOW, days=10) == 1
    assert _left() == {"recent"}


@override_settings(OCPP={"MESSAGE_LOG_DAYS": 3})
def test_prune_defaults_to_the_retention_setting():
    _log(timedelta(days=4), "old")
    _log(timedelta(days=2), "recent")
    assert message_log_prune(now=NOW) == 1
    assert _left() == {"recent"}


def test_prune_default_retention_is_thirty_days():
    _log(timedelta(days=31), "old")
    _log(timedelta(days=29), "recent")
    assert message_log_prune(now=NOW) == 1
    assert _left() == {"recent"}


def test_prune_works_through_a_backlog_in_chunks(monkeypatch):
    monkeypatch.setattr(message_log, "MESSAGE_LOG_PRUNE_CHUNK", 3)
    for n in range(10):
        _log(timedelta(days=40, minutes=n), f"old{n}")
    _log(timedelta(days=1), "recent")
    assert message_log_prune(now=NOW, days=30) == 10
    assert _left() == {"recent"}


def test_prune_with_nothing_to_do_returns_zero():
    _log(timedelta(days=1), "recent")
    assert message_log_prune(now=NOW, days=30) == 0


def test_command_prunes_and_reports_the_count():
    now = timezone.now()
    _log(timedelta(days=8), "old", now=now)
    _log(timedelta(days=1), "recent", now=now)
    out = StringIO()
    call_command("prune_message_log", "--days", "7", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert _left() == {"recent"}


def test_command_refuses_negative_days():
    with pytest.raises(CommandError):
        call_command("prune_message_log", "--days", "-1")
