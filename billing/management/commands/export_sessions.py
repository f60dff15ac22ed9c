"""`manage.py export_sessions --from 2026-01-01 --to 2026-01-31 [--station CP-001] [--format csv]`:
completed sessions for invoicing, as CSV on stdout (or `--output FILE`)."""

from django.core.management.base import BaseCommand, CommandError

from billing.exports import export_bounds, export_csv_lines, sessions_for_invoicing
from evpower.errors import Invalid


class Command(BaseCommand):
    help = (
        "Completed sessions that stopped in the period (dates are whole UTC days, --to included; "
        "date-times are taken as given, --to excluded), with energy, duration, cost, currency, "
        "tariff name and tag owner."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="2026-01-01 or 2026-01-01T00:00:00Z")
        parser.add_argument("--to", dest="end", required=True, help="2026-01-31 or 2026-02-01T00:00:00Z")
        parser.add_argument("--station", help="only this station id")
        parser.add_argument("--format", choices=["csv"], default="csv")
        parser.add_argument("--output", help="write to this file instead of stdout")

    def handle(self, *args, start, end, station, output, **options):
        try:
            lower, upper = export_bounds(start=start, end=end)
        except Invalid as exc:
            raise CommandError(
                "; ".join(f"--{name}: {' '.join(messages)}" for name, messages in exc.fields.items())
            ) from None
        lines = export_csv_lines(sessions_for_invoicing(start=lower, end=upper, station_id=station))
        if output:
            with open(output, "w", newline="", encoding="utf-8") as out:
                out.writelines(lines)
            return
        for line in lines:
            self.stdout.write(line, ending="")
