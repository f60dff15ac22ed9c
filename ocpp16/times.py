"""OCPP date-times: how stations write them and how we answer."""

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """An OCPP dateTime as an aware datetime; a station's naive time is taken as UTC."""
    text = value.strip().replace("z", "Z").replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """UTC with a Z, millisecond precision: what every station parses."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_meter_values(entries: list) -> list:
    """OCPP meterValue entries with their timestamps parsed (ValueError on a bad one)."""
    return [{**entry, "timestamp": parse_time(entry["timestamp"])} for entry in entries]
