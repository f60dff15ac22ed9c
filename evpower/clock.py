"""The one clock: every "now" in the project is `utcnow()`, aware and in UTC."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
