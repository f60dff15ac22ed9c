"""Delete message-log rows older than the retention period (OCPP_MESSAGE_LOG_DAYS)."""

from django.core.management.base import BaseCommand, CommandError

from evpower.clock import utcnow
from stations.message_log import message_log_prune


class Command(BaseCommand):
    help = "Delete OCPP message-log rows older than --days (default OCPP_MESSAGE_LOG_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Keep this many days (default: setting).")

    def handle(self, *args, days: int | None, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = message_log_prune(now=utcnow(), days=days)
        self.stdout.write(f"Deleted {deleted} message-log rows.")
