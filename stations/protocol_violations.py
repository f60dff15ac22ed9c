"""Known vendor quirks seen in a station's frames (see ocpp16.tolerance): one
row per station, action, kind and field, counted. Noted by the gateway on its
writer thread and written once per group commit, not once per frame."""

from datetime import datetime

from django.db.models import QuerySet

from evpower.bulk import rows_update
from ocpp16.tolerance import Violation
from stations.models import ProtocolViolation, Station


class ViolationTally:
    """The violations noted during one commit, per (station, action, kind, field)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str, str, str], dict] = {}

    def note(
        self, *, station_pk: int, action: str, violation: Violation, example: list, now: datetime
    ) -> None:
        key = (station_pk, action, str(violation.quirk), violation.field)
        entry = self.seen.get(key)
        if entry is None:
            self.seen[key] = {
                "count": 1,
                "first": now,
                "last": now,
                "detail": violation.detail,
                "example": example,
            }
        else:
            entry.update(count=entry["count"] + 1, last=now, detail=violation.detail, example=example)

    def flush(self, batch) -> None:
        if not self.seen:
            return
        # One read, one update and one insert for the whole commit.
        rows = ProtocolViolation.objects.filter(
            station_id__in={key[0] for key in self.seen}, action__in={key[1] for key in self.seen}
        )
        existing = {(row.station_id, row.action, row.kind, row.field): row for row in rows}
        changed, new = [], []
        for key, entry in self.seen.items():
            row = existing.get(key)
            if row is None:
                station_pk, action, kind, field = key
                new.append(
                    ProtocolViolation(
                        station_id=station_pk,
                        action=action,
                        kind=kind,
                        field=field,
                        detail=entry["detail"],
                        count=entry["count"],
                        first_seen=entry["first"],
                        last_seen=entry["last"],
                        example=entry["example"],
                    )
                )
                continue
            row.count += entry["count"]
            row.last_seen = max(row.last_seen, entry["last"])
            row.detail, row.example = entry["detail"], entry["example"]
            changed.append(row)
        rows_update(changed, ["count", "last_seen", "detail", "example"])
        # A row another process created meanwhile loses this commit's first
        # sighting rather than failing the frames it shares the commit with.
        ProtocolViolation.objects.bulk_create(new, ignore_conflicts=True)
        self.seen.clear()


def protocol_violations_note(
    *, batch, station_pk: int, action: str, violations: tuple[Violation, ...], example: list, now: datetime
) -> None:
    """Count this frame's violations (written with the commit)."""
    tally = batch.state(ViolationTally)
    for violation in violations:
        tally.note(station_pk=station_pk, action=action, violation=violation, example=example, now=now)


def protocol_violations_of(*, station: Station) -> QuerySet[ProtocolViolation]:
    """The station's violations, most recently seen first."""
    return ProtocolViolation.objects.filter(station=station).order_by("-last_seen", "-id")
