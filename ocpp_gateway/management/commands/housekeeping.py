from django.core.management.base import BaseCommand

from ocpp_gateway import housekeeping


class Command(BaseCommand):
    help = "Run the gateway's periodic jobs once (for cron, if no gateway process runs them)."

    def handle(self, *args, **options):
        housekeeping.run_due_jobs(last_run={})
