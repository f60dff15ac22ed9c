"""`manage.py simulate_station` as a user runs it: a separate process against a real server."""

import contextlib
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from stations.models import Station
from tests.live import ROOT
from tests.simulator.conftest import Api, driver_token, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Simulator:
    """A running `simulate_station` process and its output so far."""

    def __init__(self, *args: str):
        self.out = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "simulate_station", *args, "--step-seconds", "0.2"],
            cwd=ROOT,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.out.flush()
        self.out.seek(0)
        return self.out.read()

    def stop(self) -> int:
        """SIGTERM, as a process manager would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.proc.wait(timeout=20)
        self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def run_simulator():
    started = []

    def run(*args: str) -> Simulator:
        started.append(Simulator(*args))
        return started[-1]

    yield run
    for simulator in started:
        simulator.stop()
        simulator.out.close()


async def test_count_runs_a_fleet_with_summary_lines(server, run_simulator, operator_api):
    api = await operator_api(server)
    fleet = run_simulator(
        "SIMF",
        "--count",
        "3",
        "--url",
        f"ws://127.0.0.1:{server.port}/ws/{{id}}",
        "--summary-interval",
        "0.5",
    )

    async def all_connected():
        connected = {c["station_id"] for c in (await api.get("/ocpp/connections"))["results"]}
        return {"SIMF-0001", "SIMF-0002", "SIMF-0003"} <= connected

    await eventually(all_connected)
    await eventually(lambda: "fleet: 3/3 connected, 3 booted, 0 charging" in fleet.output())
    assert fleet.stop() == 0, fleet.output()
    assert "stopped: 0/3 connected" in fleet.output()


async def test_password_and_auto_start_from_the_command_line(server, run_simulator):
    token = await driver_token("SIM-CLI", "SIM-CLI-TAG", price_per_kwh="0.50")
    await sync_to_async(_set_password)("SIM-CLI", "cli-secret-0123")
    api = Api(server, token)
    simulator = run_simulator(
        "SIM-CLI",
        "--url",
        server.ws_url("SIM-CLI"),
        "--password",
        "cli-secret-0123",
        "--auto-start",
        "SIM-CLI-TAG",
        "--charge-minutes",
        "0.03",
        "--power-kw",
        "360",
        "--meter-interval",
        "1",
    )

    async def completed():
        sessions = (await api.get("/ocpp/sessions", station_id="SIM-CLI"))["results"]
        return sessions[0] if sessions and sessions[0]["status"] == "completed" else None

    session = await eventually(completed)
    assert session["stop_reason"] == "Local"
    assert Decimal(session["cost"]) > 0
    output = simulator.output()
    assert "SIM-CLI: booted" in output
    assert f"transaction {session['transaction_id']} started on connector 1 for SIM-CLI-TAG" in output


def _set_password(station_id: str, password: str) -> None:
    station = Station.objects.get(station_id=station_id)
    station.set_password(password)
    station.save()
