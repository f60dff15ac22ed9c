"""Counts of what is going on across the network right now (for `/metrics`):
one aggregate query each, cheap enough to run at every scrape."""

from django.db.models import Count

from billing.models import Session, SessionStatus, Transaction

ACTIVE_SESSION_STATUSES = (
    SessionStatus.CREATED,
    SessionStatus.STARTING,
    SessionStatus.CHARGING,
    SessionStatus.STOPPING,
)


def transactions_open_count() -> int:
    """Transactions started and not yet stopped."""
    return Transaction.objects.filter(stopped_at__isnull=True).count()


def sessions_active_by_status() -> dict[str, int]:
    """Sessions not yet ended, per status (every active status, zero included)."""
    counts = dict.fromkeys(ACTIVE_SESSION_STATUSES, 0)
    rows = (
        Session.objects.filter(status__in=ACTIVE_SESSION_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts.update(dict(rows))
    return {str(status): n for status, n in counts.items()}
