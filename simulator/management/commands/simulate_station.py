import asyncio
import contextlib
import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from simulator.fleet import Fleet
from simulator.station import StationOptions


class Command(BaseCommand):
    help = (
        "Simulate OCPP 1.6J charge points: boot, heartbeats, status, meter values, and answers "
        "to every central-system command. With --count N, runs ID-0001…ID-N from one process."
    )

    def add_arguments(self, parser):
        parser.add_argument("station_id", metavar="ID")
        parser.add_argument(
            "--url",
            default="ws://127.0.0.1:8000/ws/{id}",
            help="central system URL; {id} is replaced by the (percent-encoded) station id, "
            "else the URL's last path segment is (default: %(default)s)",
        )
        parser.add_argument("--count", type=int, default=1, help="stations to run (ids ID-0001…)")
        parser.add_argument("--connectors", type=int, default=2)
        parser.add_argument("--password", help="HTTP Basic password (user = station id)")
        parser.add_argument("--vendor", default="EVPower")
        parser.add_argument("--model", default="Simulator")
        parser.add_argument("--firmware", default="1.0.0", help="firmware version reported at boot")
        parser.add_argument(
            "--meter-interval", type=int, default=60, help="MeterValueSampleInterval, seconds (default 60)"
        )
        parser.add_argument("--power-kw", type=float, default=11.0, help="charging power (default 11)")
        parser.add_argument("--id-tag", default="SIM-TAG", help="tag for local starts (default SIM-TAG)")
        parser.add_argument(
            "--auto-start",
            nargs="?",
            const="",
            metavar="TAG",
            help="after booting, plug in, Authorize TAG (default --id-tag) and charge",
        )
        parser.add_argument(
            "--charge-minutes", type=float, default=1.0, help="how long a local start charges (default 1)"
        )
        parser.add_argument("--repeat", action="store_true", help="start again after each local charge")
        parser.add_argument(
            "--boot-retry",
            type=float,
            default=10.0,
            help="seconds between boots when Pending/Rejected come without an interval",
        )
        parser.add_argument("--reconnect-max", type=float, default=30.0, help="back-off ceiling, seconds")
        parser.add_argument(
            "--step-seconds",
            type=float,
            default=1.0,
            help="duration of a reboot, a firmware or diagnostics step, a driver unplugging",
        )
        parser.add_argument("--ramp", type=float, default=0, help="stations started per second (0: all)")
        parser.add_argument("--summary-interval", type=float, default=10.0, help="fleet summary, seconds")
        parser.add_argument("--exit-after", type=float, help="stop after this many seconds")

    def handle(self, *args, **options):
        if options["count"] < 1 or options["connectors"] < 1:
            raise CommandError("--count and --connectors must be at least 1")
        template = StationOptions(
            station_id=options["station_id"],
            url=options["url"],
            connectors=options["connectors"],
            password=options["password"],
            vendor=options["vendor"],
            model=options["model"],
            firmware_version=options["firmware"],
            meter_interval=options["meter_interval"],
            power_kw=options["power_kw"],
            id_tag=options["id_tag"],
            auto_start=options["auto_start"],
            charge_minutes=options["charge_minutes"],
            auto_start_repeat=options["repeat"],
            boot_retry=options["boot_retry"],
            reconnect_max=options["reconnect_max"],
            step_seconds=options["step_seconds"],
        )
        self._configure_logging(options["verbosity"], fleet=options["count"] > 1)
        fleet = Fleet(template, options["count"])
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._run(fleet, options))
        self.stdout.write(f"stopped: {fleet.summary()}")

    async def _run(self, fleet: Fleet, options: dict) -> None:
        main = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        run = fleet.run(ramp=options["ramp"], summary_interval=options["summary_interval"])
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(run, options["exit_after"])

    def _configure_logging(self, verbosity: int, *, fleet: bool) -> None:
        """Station events for one station (or -v 2), fleet summaries, frames at -v 3."""
        handler = logging.StreamHandler(self.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        simulator = logging.getLogger("simulator")
        simulator.handlers = [handler]
        simulator.propagate = False
        simulator.setLevel(logging.INFO if verbosity else logging.WARNING)
        station_level = logging.INFO if verbosity >= 2 or (verbosity == 1 and not fleet) else logging.ERROR
        logging.getLogger("simulator.station").setLevel(station_level)
        frames = logging.getLogger("ocpp")
        frames.handlers = [handler]
        frames.propagate = False
        frames.setLevel(logging.INFO if verbosity >= 3 else logging.ERROR)
