"""Real server processes on free ports, started as deployed (bin/asgi-server:
Daphne unless ASGI_SERVER says otherwise), sharing the test database."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from evpower.models import Role
from tests.factories import UserFactory
from tests.station import ws_path

ROOT = Path(__file__).resolve().parent.parent
FAST_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Server:
    extra_args: tuple[str, ...] = ()  # more options for the server

    def __init__(self, env: dict, *, wait_ready: bool = True):
        self.port = _free_port()
        self.env = env
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "evpower.settings",
            "DATABASE_URL": _test_database_url(),
            "PYTHONUNBUFFERED": "1",
            "PASSWORD_HASHERS": ",".join(FAST_HASHERS),
            "PYTHON": sys.executable,
            **{k: str(v) for k, v in env.items()},
        }
        self.log = open(ROOT / f".daphne-{self.port}.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(ROOT / "bin" / "asgi-server"), "127.0.0.1", str(self.port), *self.extra_args],
            cwd=ROOT,
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if wait_ready:
            self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}{ws_path(station_id)}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.output()}")
            try:
                requests.get(self.url + "/health", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"daphne did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Die like a crashed process: no cleanup at all."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def _server_pool(django_db_setup, django_db_blocker):
    pool: dict = {}
    yield pool
    for server in pool.values():
        server.stop()


@pytest.fixture
def start_server(transactional_db, _server_pool):
    """Start (or reuse) a Daphne process with extra environment variables.

    `start_server(fresh=True, ...)` always starts a new one, stopped after the test."""
    fresh_servers = []

    def start(fresh: bool = False, **env) -> Server:
        key = tuple(sorted(env.items()))
        if fresh:
            server = Server(env)
            fresh_servers.append(server)
            return server
        server = _server_pool.get(key)
        if server is None or not server.alive:
            server = _server_pool[key] = Server(env)
        return server

    yield start
    for server in fresh_servers:
        server.stop()


@pytest.fixture
def server(start_server):
    return start_server()


@pytest.fixture
def live_token(transactional_db):
    """`make(role=Role.OPERATOR)`: a new user of `role` with an API token; returns the key.

    Blocking ORM: from an async test call it as `await sync_to_async(live_token)(role)`."""

    def make(role=Role.OPERATOR) -> str:
        return Token.objects.create(user=UserFactory(role=role)).key

    return make


async def http(
    server: Server, method: str, path: str, token: str | None = None, payload=None, **kwargs
) -> requests.Response:
    """`method path` against `server`, with `payload` as JSON and `token` (if any) as auth.

    Blocking HTTP run in a thread: a test station sharing this event loop must keep
    answering the server's calls meanwhile (TriggerMessage, GetConfiguration after boot)."""
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    kwargs.setdefault("timeout", 60)
    return await asyncio.to_thread(
        requests.request, method, server.url + path, json=payload, headers=headers, **kwargs
    )
