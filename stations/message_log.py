"""The message log: every frame in and out, kept OCPP_MESSAGE_LOG_DAYS days."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from ocpp_gateway.conf import gateway_settings
from stations.models import MessageLog


def message_log_list() -> QuerySet[MessageLog]:
    return MessageLog.objects.order_by("-created_at", "-id")


MESSAGE_LOG_PRUNE_CHUNK = 5_000


def message_log_prune(*, now: datetime, days: int | None = None) -> int:
    """Delete message-log rows older than `days` (default OCPP_MESSAGE_LOG_DAYS).

    Deletes in chunks, each its own short transaction, so pruning a huge
    backlog never holds long locks against the gateway's inserts. Returns the
    number of rows deleted.
    """
    if days is None:
        days = int(gateway_settings.MESSAGE_LOG_DAYS)
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            MessageLog.objects.filter(created_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:MESSAGE_LOG_PRUNE_CHUNK]
        )
        if not ids:
            return deleted
        count, _ = MessageLog.objects.filter(pk__in=ids).delete()
        deleted += count
