"""A private redis-server that a test stops and starts (a Redis outage)."""

import subprocess
import time

import redis as redis_py

from tests.live import _free_port


class PrivateRedis:
    """redis-server on a free port. With `directory`, its data survive a stop
    and a start (as a restart with persistence, or a network partition, keeps
    them); without, it comes back empty."""

    def __init__(self, directory=None):
        self.port = _free_port()
        self.directory = directory
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_py.Redis:
        return redis_py.Redis(port=self.port)

    def start(self) -> None:
        # No snapshots of its own: only SHUTDOWN SAVE writes the data.
        options = {"port": self.port, "bind": "127.0.0.1", "save": "", "appendonly": "no"}
        if self.directory is not None:
            options["dir"] = self.directory
        self.proc = subprocess.Popen(
            ["redis-server", *(arg for name, value in options.items() for arg in (f"--{name}", str(value)))],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self._cli("ping").returncode:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.directory is not None:
            self._cli("shutdown", "save")  # writes the data the next start loads
        else:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc = None

    def _cli(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["redis-cli", "-p", str(self.port), *command], capture_output=True)
