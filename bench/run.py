"""Benchmark EVPower against a bare `ocpp` + `websockets` central system.

    .venv/bin/python bench/run.py                      # 200 and 2000 stations, 1 and 2 processes
    .venv/bin/python bench/run.py --stations 500 --processes 1 --seconds 5
    .venv/bin/python bench/run.py --quick --output /tmp/R.md   # a tiny run (the smoke test's)
    .venv/bin/python bench/run.py --stations 10000 --processes 1 --phases hold,storm   # at scale
    .venv/bin/python bench/run.py --merge /tmp/a.json /tmp/b.json --output bench/RESULTS.md

Prints a table per station count and process count, and writes it with the
machine, the date and the exact command to `bench/RESULTS.md` (`--output`).
See bench/README.md for what each figure means.
"""

import argparse
import itertools
import json
import math
import os
import platform
import random
import re
import resource
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPConnection
from multiprocessing import Pipe, Process
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

try:
    import websockets  # noqa: F401
except ImportError:  # run with the system python: use the project's venv
    if VENV_PYTHON.exists() and Path(sys.executable) != VENV_PYTHON:
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])
    sys.exit("Install the project first (bin/test or pip install -r requirements.txt).")

from loadclient import worker_main  # noqa: E402

PY = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/evpower_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PHASES = ("hold", "saturated", "sustained", "storm")
# Stations per load-client process when --workers is not given: well under a
# process's file descriptors, and enough processes to share the handshakes.
STATIONS_PER_WORKER = 5000
# Connections from one source address to one server port before the next
# 127.0.0.x is used (the ephemeral range is ~28k ports; a storm needs room).
CONNECTIONS_PER_SOURCE = 12000


# Servers ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _proc_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _proc_nofile(pid: int) -> int | None:
    """The soft limit on open files of a process."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError):
        pass
    return None


def _proc_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


NETSTAT_KEYS = ("ListenOverflows", "ListenDrops", "TCPTimeouts", "TCPAbortOnData")


def tcp_counters() -> dict[str, int]:
    """The kernel's TCP counters that show a full accept queue (SYNs or
    handshakes dropped because a server did not accept() fast enough)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return {k: int(table.get(k, 0)) for k in NETSTAT_KEYS}
    return {}


def tcp_counters_since(before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in tcp_counters().items() if v - before.get(k, 0)}


def service_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL and Redis process on the box, by pid."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in ("postgres", "redis-server"):
                out[int(entry.name)] = _proc_cpu(int(entry.name))
    return out


def service_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds PostgreSQL and Redis used since `before` (processes that
    ended meanwhile are not counted: an underestimate)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in service_cpu().items())


@dataclass
class System:
    """One column of the table: a kind of server and how many processes."""

    label: str
    kind: str  # project | baseline
    server: str  # daphne | uvicorn | websockets
    processes: int
    env: dict = field(default_factory=dict)
    ports: list = field(default_factory=list)
    http_ports: list = field(default_factory=list)
    procs: list = field(default_factory=list)
    log_dir: Path = None
    extra_args: list = field(default_factory=list)  # appended to the server command
    stations: int = 0  # of the configuration being measured (names profiles)
    backlog: int = 0  # the listening socket's accept queue (0: as launched by default)

    def __post_init__(self):
        self.ports = [free_port() for _ in range(self.processes)]
        self.http_ports = self.ports if self.kind == "project" else [free_port() for _ in self.ports]
        if self.kind == "project":
            self.env = {**self.env, "ASGI_SERVER": self.server, "PYTHON": PY}
            if self.backlog:
                self.env["ASGI_BACKLOG"] = str(self.backlog)

    def _command(self, i: int) -> list[str]:
        port = str(self.ports[i])
        if self.kind == "project":
            # As every launcher starts it (bin/asgi-server: its backlog, 4096,
            # unless --backlog says otherwise).
            quiet = ["--log-level", "warning"] if self.server == "uvicorn" else []
            return [str(ROOT / "bin" / "asgi-server"), "127.0.0.1", port, *quiet, *self.extra_args]
        baseline = str(ROOT / "bench" / "baseline.py")
        command = [PY, baseline, "--port", port, "--http-port", str(self.http_ports[i])]
        if self.backlog:
            command += ["--backlog", str(self.backlog)]
        return command

    def log_paths(self) -> list[Path]:
        return [self.log_dir / f"{self.label.replace(' ', '_')}-{i}.log" for i in range(self.processes)]

    def start(self) -> float:
        """Start every process; seconds until all listen."""
        t0 = time.monotonic()
        self.procs = []
        for i, path in enumerate(self.log_paths()):
            log = open(path, "a")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    self._command(i), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        for port, proc in zip(self.ports, self.procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.label}: server exited; see {self.log_dir}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        return time.monotonic() - t0

    def kill(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def rss_kib(self) -> int:
        return sum(_proc_rss_kib(p.pid) for p in self.procs)

    def cpu(self) -> float:
        return sum(_proc_cpu(p.pid) for p in self.procs)

    def fds(self) -> int:
        return sum(_proc_fds(p.pid) for p in self.procs)

    def nofile(self) -> int | None:
        """The lowest open-files limit of the server processes."""
        limits = [_proc_nofile(p.pid) for p in self.procs]
        return min((n for n in limits if n is not None), default=None)

    def ws_url(self, index: int, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.ports[index % self.processes]}/ws/{station_id}"


class Profiler:
    """py-spy recording every server process of a system during one phase
    (`--profile DIR`): a flame graph and the raw stacks per process."""

    def __init__(self, system: System, directory: str | None, phase: str):
        self.procs = []
        if not directory:
            return
        spy = Path(PY).with_name("py-spy")
        for i, proc in enumerate(system.procs):
            name = f"{system.label.replace(' ', '_')}-{i}-{system.stations}-{phase}"
            for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
                command = [str(spy), "record", "--pid", str(proc.pid), "--nonblocking", "--rate", "50"]
                command += ["--format", fmt, "-o", str(Path(directory) / f"{name}.{suffix}")]
                if fmt == "raw":
                    # Per thread (event loop, writer, ...), waiting included: where a frame's time goes.
                    command += ["--threads", "--idle"]
                self.procs.append(
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


_NUMBERS = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+")


def log_summary(paths: list[Path], top: int = 6) -> dict:
    """Lines the server processes logged at WARNING or above (JSON lines), and
    other output (tracebacks, the server's own lines), counted by message
    with the numbers blanked out: what failed, in the server's words."""
    counts, levels = Counter(), Counter()
    for path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
                level, text = entry.get("level", "?"), f"{entry.get('logger')}: {entry.get('event')}"
            except (ValueError, AttributeError):
                if not line.strip() or line.startswith((" ", "\t")):
                    continue  # a traceback's body: its last line names it
                level, text = "output", line
            levels[level.lower()] += 1
            counts[f"{level.upper()} {_NUMBERS.sub('#', text)[:160]}"] += 1
    return {"levels": dict(levels), "top": counts.most_common(top)}


# Load client ------------------------------------------------------------------


class Clients:
    """The load-client processes, driven one operation at a time."""

    def __init__(self, count: int):
        self.pipes, self.procs = [], []
        for _ in range(count):
            ours, theirs = Pipe()
            proc = Process(target=worker_main, args=(theirs,), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def send(self, op: str, per_worker: list[dict] | None = None, **common) -> None:
        for i, pipe in enumerate(self.pipes):
            pipe.send({"op": op, **common, **(per_worker[i] if per_worker else {})})

    def receive(self) -> list[dict]:
        return [pipe.recv() for pipe in self.pipes]

    def ask(self, op: str, per_worker: list[dict] | None = None, **common) -> list[dict]:
        self.send(op, per_worker, **common)
        return self.receive()

    def cpu(self) -> float:
        return sum(_proc_cpu(p.pid) for p in self.procs)

    def rss_kib(self) -> int:
        return sum(_proc_rss_kib(p.pid) for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def merged(results: list[dict], key: str) -> list:
    return [v for r in results for v in r[key]]


def client_cpu_pct(results: list[dict]) -> float:
    """Busiest load-client process, % of one core (as the process measured itself)."""
    return max(100 * r["cpu"] / max(r["wall"], 1e-9) for r in results)


# Commands over HTTP -------------------------------------------------------------


_WRITER_SERIES = re.compile(
    r'^(evpower_writer_commit_seconds_(?:sum|count)|evpower_writer_batch_size_sum\{kind="units"\}'
    r"|evpower_writer_loop_fallbacks_total\{[^}]*\}) (\S+)$",
    re.MULTILINE,
)


def writer_totals(system: System, token: str | None) -> dict[str, float]:
    """The project's group-commit counters (commits, their seconds, the frames'
    units in them), summed over the server processes (each asked on its own port)."""
    totals: dict[str, float] = {}
    if system.kind != "project" or not token:
        return totals
    for port in system.http_ports:
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/metrics", headers={"Authorization": f"Token {token}"})
            text = conn.getresponse().read().decode()
        except OSError:
            continue
        finally:
            conn.close()
        for name, value in _WRITER_SERIES.findall(text):
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


_FALLBACKS = "evpower_writer_loop_fallbacks_total"


def writer_figures(before: dict, after: dict, wall: float, out: dict, phase: str) -> None:
    """Commits per second, mean commit time and frames per commit over a phase."""
    commits = after.get("evpower_writer_commit_seconds_count", 0) - before.get(
        "evpower_writer_commit_seconds_count", 0
    )
    if commits <= 0:
        return
    seconds = after["evpower_writer_commit_seconds_sum"] - before.get("evpower_writer_commit_seconds_sum", 0)
    units_key = 'evpower_writer_batch_size_sum{kind="units"}'
    units = after.get(units_key, 0) - before.get(units_key, 0)
    out[f"{phase}_commits_per_s"] = commits / wall
    out[f"{phase}_commit_ms"] = 1000 * seconds / commits
    out[f"{phase}_units_per_commit"] = units / commits
    # Loop commits the writer thread gathered again (see ocpp_gateway.writer):
    # the frames of each waited for a thread commit.
    fallbacks = sum(v for k, v in after.items() if k.startswith(_FALLBACKS)) - sum(
        v for k, v in before.items() if k.startswith(_FALLBACKS)
    )
    out[f"{phase}_fallbacks_per_s"] = fallbacks / wall


class CommandSender(threading.Thread):
    """Sends one command after another (RemoteStopTransaction to a random
    station) and times each round trip, until stopped or `limit` reached."""

    def __init__(
        self, system: System, token: str | None, targets: list[tuple], limit: int = 2000, sequential=False
    ):
        """`targets`: (station id, index of the server process holding it)."""
        super().__init__(daemon=True)
        self.system, self.token, self.targets, self.limit = system, token, targets, limit
        self.sequential = sequential  # each station once, in order, instead of at random
        self.latencies, self.errors = [], {}
        self.halt = threading.Event()

    def run(self) -> None:
        conns = [HTTPConnection("127.0.0.1", port, timeout=60) for port in self.system.http_ports]
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        path = "/ocpp/send_command" if self.system.kind == "project" else "/send_command"
        rng = random.Random(1)
        for sent in itertools.count():
            if self.halt.is_set() or sent >= self.limit:
                break
            count = len(self.targets)
            station_id, held_by = self.targets[sent % count if self.sequential else rng.randrange(count)]
            body = json.dumps(
                {
                    "station_id": station_id,
                    "command": "RemoteStopTransaction",
                    "payload": {"transactionId": 1},
                }
            )
            # The project: any process (they share Redis); the baseline: the
            # process that holds the station (it has no shared state).
            n = self.system.processes
            conn = conns[rng.randrange(n) if self.system.kind == "project" else held_by % n]
            t0 = time.monotonic()
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError as exc:
                status = type(exc).__name__
                conn.close()
            if status == 200:
                self.latencies.append(time.monotonic() - t0)
            else:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1
            time.sleep(0.02)
        for conn in conns:
            conn.close()

    def stop(self, wait: bool = False) -> dict:
        if not wait:
            self.halt.set()
        self.join(300)
        return {"latencies": self.latencies, "errors": self.errors}


# The project's database and token ---------------------------------------------


def _pg_admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def database_reset(url: str) -> None:
    if url.startswith("sqlite"):
        Path(urlsplit(url).path[1:]).unlink(missing_ok=True)
        return
    import psycopg

    admin, name = _pg_admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def meter_rows(url: str) -> int:
    query = "SELECT count(*) FROM billing_metervalue"
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(urlsplit(url).path[1:]) as conn:
            return conn.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


OPERATOR_TOKEN = """
from rest_framework.authtoken.models import Token
from evpower.models import Role, User
user, _ = User.objects.get_or_create(username="bench", defaults={"role": Role.SUPERADMIN})
print(Token.objects.get_or_create(user=user)[0].key)
"""


def redis_flush(url: str) -> None:
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


# One measured configuration ---------------------------------------------------------


@dataclass
class Plan:
    """What one measured configuration runs (from the command line)."""

    stations: int
    seconds: float
    phases: tuple = PHASES
    heartbeat_interval: float | None = None  # None: twice per hold
    connect_concurrency: int = 400  # handshakes in flight, all load-client processes together
    connect_rate: float = 0  # new connections per second, all processes (0: no pacing)
    sources: int = 1  # 127.0.0.1 .. 127.0.0.N as source addresses
    storm_seconds: float | None = None
    sustained_rate: float | None = None
    profile: str | None = None  # directory for py-spy recordings of each phase
    storm_open_timeout: float = 10  # seconds a station waits for its handshake in the storm

    @property
    def meters(self) -> bool:
        return "saturated" in self.phases or "sustained" in self.phases


def measure(system: System, clients: Clients, plan: Plan, token, database_url) -> dict:
    stations = plan.stations
    prefix = f"B{system.processes}{system.server[0]}{secrets.token_hex(2)}"
    ids = [f"{prefix}-{i:05d}" for i in range(stations)]
    targets = [(sid, i % system.processes) for i, sid in enumerate(ids)]
    out = {"system": system.label, "stations": stations, "processes": system.processes}
    out["phases"] = ["connect", *plan.phases]
    out["workers"] = len(clients.pipes)
    system.stations = stations
    out["ready_s"] = system.start()
    out["server_nofile"] = system.nofile()
    out["first_request_ms"] = warm_up(system)
    time.sleep(0.5)
    rss0 = system.rss_kib()
    out["rss_idle_server_mib"] = rss0 / 1024

    _connect(system, clients, plan, ids, out)
    time.sleep(1)
    out["rss_connected_mib"] = system.rss_kib() / 1024
    out["server_fds"] = system.fds()
    out["client_rss_per_station_kib"] = clients.rss_kib() / max(1, out["connected"])
    if "hold" in plan.phases:
        _hold(system, clients, plan, token, targets, out)
    out["rss_mib"] = system.rss_kib() / 1024
    out["rss_per_station_kib"] = (out["rss_mib"] * 1024 - rss0) / max(1, out["connected"])
    if plan.meters:
        _meters(system, clients, plan, token, targets, database_url, out)
    if "storm" in plan.phases:
        _storm(system, clients, plan, token, targets, out)
    clients.ask("close")
    system.stop()
    out["server_log"] = log_summary(system.log_paths())
    return out


def warm_up(system: System) -> float | None:
    """One HTTP request to each server process, so that what the first
    request loads (Django imports the URLconf then) is not counted as a
    command's round trip; the slowest of them, ms."""
    if system.kind != "project":
        return None
    slowest = 0.0
    for port in system.http_ports:
        conn = HTTPConnection("127.0.0.1", port, timeout=60)
        t0 = time.monotonic()
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
        except OSError:
            pass
        finally:
            conn.close()
        slowest = max(slowest, time.monotonic() - t0)
    return ms(slowest)


def _station_specs(system: System, plan: Plan, ids: list[str], workers: int) -> list[dict]:
    """Per load-client process: its stations as (id, url, source address).
    Station i goes to server process i mod N; past CONNECTIONS_PER_SOURCE
    stations per server port, from the next 127.0.0.x."""
    specs = [[] for _ in range(workers)]
    for i, sid in enumerate(ids):
        per_port = i // system.processes
        source = f"127.0.0.{1 + per_port % plan.sources}" if plan.sources > 1 else None
        specs[i % workers].append((sid, system.ws_url(i, sid), source))
    return [{"stations": s} for s in specs]


def _connect(system: System, clients: Clients, plan: Plan, ids: list[str], out: dict) -> None:
    """Connect, boot, status (and StartTransaction when MeterValues follow)."""
    workers = len(clients.pipes)
    cpu0, client0, tcp0 = system.cpu(), clients.cpu(), tcp_counters()
    profiler = Profiler(system, plan.profile, "connect")
    res = clients.ask(
        "connect",
        _station_specs(system, plan, ids, workers),
        concurrency=max(5, min(plan.connect_concurrency // workers, plan.stations // workers)),
        rate=plan.connect_rate / workers,
        transaction=plan.meters,
    )
    wall = max(r["wall"] for r in res)
    out["connected"] = sum(r["connected"] for r in res)
    out["connect_s"] = wall
    out["connect_per_s"] = out["connected"] / wall
    out["connect_p99_ms"] = ms(pct(merged(res, "latencies"), 0.99))
    out["connect_failures"] = merged(res, "failures")[:3]
    out["connect_failure_kinds"] = counts_merged(res, "failure_kinds")
    profiler.stop()
    out["connect_server_cpu_pct"] = 100 * (system.cpu() - cpu0) / wall
    out["connect_client_cpu_pct"] = client_cpu_pct(res)
    out["connect_clients_cpu_pct"] = 100 * (clients.cpu() - client0) / wall
    out["connect_tcp"] = tcp_counters_since(tcp0)
    for step in ("handshake", "boot", "status", "start_tx"):
        values = [v for r in res for v in r["steps"][step]]
        out[f"{step}_p50_ms"], out[f"{step}_p99_ms"] = ms(pct(values, 0.5)), ms(pct(values, 0.99))


def _hold(system: System, clients: Clients, plan: Plan, token, targets: list, out: dict) -> None:
    """Hold with heartbeats; commands to idle stations meanwhile."""
    interval = plan.seconds / 2 if plan.heartbeat_interval is None else plan.heartbeat_interval
    sender = CommandSender(system, token, targets)
    sender.start()
    cpu0 = system.cpu()
    profiler = Profiler(system, plan.profile, "hold")
    res = clients.ask("hold", seconds=plan.seconds, interval=interval)
    profiler.stop()
    cmd = sender.stop()
    wall = max(r["wall"] for r in res)
    time.sleep(0.5)
    out["held"] = sum(r["live"] for r in res)
    out["hold_server_cpu_pct"] = 100 * (system.cpu() - cpu0) / wall
    out["hold_client_cpu_pct"] = client_cpu_pct(res)
    hb = merged(res, "latencies")
    out["heartbeat_interval_s"] = interval
    out["heartbeat_p50_ms"], out["heartbeat_p99_ms"] = ms(pct(hb, 0.5)), ms(pct(hb, 0.99))
    out["heartbeat_failures"] = sum(r["failures"] for r in res)
    out["cmd_idle_p50_ms"], out["cmd_idle_p99_ms"] = (
        ms(pct(cmd["latencies"], 0.5)),
        ms(pct(cmd["latencies"], 0.99)),
    )
    out["cmd_idle_max_ms"] = ms(max(cmd["latencies"], default=None))
    out["cmd_idle_n"], out["cmd_idle_errors"] = len(cmd["latencies"]), cmd["errors"]


def _meters(system, clients, plan: Plan, token, targets, database_url, out: dict) -> None:
    """Saturated, then sustained MeterValues (with commands); rows counted."""
    workers, seconds = len(clients.pipes), plan.seconds
    rows0 = meter_rows(database_url) if system.kind == "project" else 0
    meter_acked = meter_failures = 0
    if "saturated" in plan.phases:
        # Every station sends the next one as soon as the last is acked.
        cpu0, svc0, client0 = system.cpu(), service_cpu(), clients.cpu()
        profiler = Profiler(system, plan.profile, "saturated")
        commits0 = writer_totals(system, token)
        res = clients.ask("meter", seconds=seconds, rate=None)
        commits1 = writer_totals(system, token)
        profiler.stop()
        wall = max(r["wall"] for r in res)
        writer_figures(commits0, commits1, wall, out, "saturated")
        out["saturated_clients_cpu_pct"] = 100 * (clients.cpu() - client0) / wall
        acked = sum(r["acked"] for r in res)
        out["saturated_per_s"] = acked / wall
        out["saturated_p99_ms"] = ms(pct(merged(res, "latencies"), 0.99))
        out["saturated_server_cpu_pct"] = 100 * (system.cpu() - cpu0) / wall
        out["saturated_db_redis_cpu_pct"] = 100 * service_cpu_since(svc0) / wall
        out["saturated_client_cpu_pct"] = client_cpu_pct(res)
        meter_acked += acked
        meter_failures += sum(r["failures"] for r in res)

    if "sustained" in plan.phases:
        # Half the saturated rate (or 10 per station and minute without it),
        # or the rate asked for (to compare two trees at the same load), with
        # commands under that load.
        rate = plan.sustained_rate or max(1.0, out.get("saturated_per_s", plan.stations / 6) / 2)
        sender = CommandSender(system, token, targets)
        sender.start()
        cpu0 = system.cpu()
        profiler = Profiler(system, plan.profile, "sustained")
        commits0 = writer_totals(system, token)
        res = clients.ask("meter", seconds=seconds, rate=rate / workers)
        commits1 = writer_totals(system, token)
        profiler.stop()
        cmd = sender.stop()
        wall = max(r["wall"] for r in res)
        writer_figures(commits0, commits1, wall, out, "sustained")
        lat = merged(res, "latencies")
        acked = sum(r["acked"] for r in res)
        out["sustained_target_per_s"] = rate
        out["sustained_per_s"] = acked / wall
        out["sustained_p50_ms"], out["sustained_p99_ms"] = ms(pct(lat, 0.5)), ms(pct(lat, 0.99))
        out["sustained_server_cpu_pct"] = 100 * (system.cpu() - cpu0) / wall
        out["sustained_client_cpu_pct"] = client_cpu_pct(res)
        out["cmd_load_p50_ms"], out["cmd_load_p99_ms"] = (
            ms(pct(cmd["latencies"], 0.5)),
            ms(pct(cmd["latencies"], 0.99)),
        )
        out["cmd_load_n"], out["cmd_load_errors"] = len(cmd["latencies"]), cmd["errors"]
        meter_acked += acked
        meter_failures += sum(r["failures"] for r in res)
    out["meter_acked"], out["meter_failures"] = meter_acked, meter_failures
    if system.kind == "project":
        out["rows_stored"] = meter_rows(database_url) - rows0
        out["rows_lost"] = max(0, meter_acked - out["rows_stored"])


def _storm(system: System, clients: Clients, plan: Plan, token, targets: list, out: dict) -> None:
    """Kill every process with all stations connected, restart, time the reboots."""
    stations = plan.stations
    live = out.get("held", out["connected"])
    deadline = time.time() + (plan.storm_seconds or max(60, stations / 50))
    clients.send("storm", deadline=deadline, open_timeout=plan.storm_open_timeout)
    time.sleep(0.5)
    system.kill()
    restarted = time.time()
    client0, tcp0 = clients.cpu(), tcp_counters()
    out["storm_ready_s"] = system.start()
    cpu0 = system.cpu()
    profiler = Profiler(system, plan.profile, "storm")
    res = clients.receive()
    profiler.stop()
    wall = time.time() - restarted
    booted = sorted(merged(res, "booted"))
    out["storm_booted"] = len(booted)
    out["storm_all_booted_s"] = booted[-1] - restarted if booted and len(booted) >= live else None
    out["storm_p50_s"] = pct([b - restarted for b in booted], 0.5)
    out["storm_p90_s"] = pct([b - restarted for b in booted], 0.9)
    opened = [t - restarted for t in merged(res, "opened")]
    out["storm_open_p50_s"], out["storm_open_p90_s"] = pct(opened, 0.5), pct(opened, 0.9)
    out["storm_failures"] = sum(r["failures"] for r in res)
    out["storm_attempts"] = sum(r["attempts"] for r in res)
    out["storm_failure_kinds"] = counts_merged(res, "failure_kinds")
    out["storm_server_cpu_pct"] = 100 * (system.cpu() - cpu0) / max(1e-9, wall - out["storm_ready_s"])
    out["storm_clients_cpu_pct"] = 100 * (clients.cpu() - client0) / wall
    out["storm_client_cpu_pct"] = client_cpu_pct(res)
    out["storm_tcp"] = tcp_counters_since(tcp0)
    # Reachable again? A command to each of up to 40 random stations, four at
    # a time (an unreachable one costs the project's 5 s acknowledgement wait).
    time.sleep(1)
    sample = random.Random(2).sample(targets, min(40, stations))
    senders = [
        CommandSender(system, token, sample[i::4], limit=len(sample[i::4]), sequential=True)
        for i in range(min(4, len(sample)))
    ]
    for sender in senders:
        sender.start()
    errors = {}
    out["storm_cmd_ok"], out["storm_cmd_sent"] = 0, len(sample)
    for sender in senders:
        cmd = sender.stop(wait=True)
        out["storm_cmd_ok"] += len(cmd["latencies"])
        for code, count in cmd["errors"].items():
            errors[code] = errors.get(code, 0) + count
    out["storm_cmd_errors"] = errors


def counts_merged(results: list[dict], key: str) -> dict:
    total = Counter()
    for r in results:
        total.update(r.get(key) or {})
    return dict(total)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


# Report -------------------------------------------------------------------------------

CPU = "  server / busiest load-client CPU, % of one core"
COMMITS = "  group commits/s, mean commit ms, frames per commit"
FALLBACKS = "  loop commits handed to the writer thread, /s"
ROWS = [
    ("stations connected and booted", "connected", "{:.0f}"),
    ("connect + boot (+ start tx), stations/s", "connect_per_s", "{:.0f}"),
    ("  handshake p50 / p99, ms", ("handshake_p50_ms", "handshake_p99_ms"), "{:.1f}"),
    ("  BootNotification p50 / p99, ms", ("boot_p50_ms", "boot_p99_ms"), "{:.1f}"),
    ("  StatusNotification p50 / p99, ms", ("status_p50_ms", "status_p99_ms"), "{:.1f}"),
    ("  StartTransaction p50 / p99, ms", ("start_tx_p50_ms", "start_tx_p99_ms"), "{:.1f}"),
    (CPU, ("connect_server_cpu_pct", "connect_client_cpu_pct"), "{:.0f}"),
    ("stations held (heartbeat every N s)", ("held", "heartbeat_interval_s"), "{:.0f}"),
    ("heartbeat ack p50 / p99, ms", ("heartbeat_p50_ms", "heartbeat_p99_ms"), "{:.1f}"),
    ("server RSS idle / all stations held, MiB", ("rss_idle_server_mib", "rss_mib"), "{:.0f}"),
    ("server RSS per station, KiB", "rss_per_station_kib", "{:.1f}"),
    ("server open files (all) / limit per process", ("server_fds", "server_nofile"), "{:.0f}"),
    ("first HTTP request after start, ms (not counted)", "first_request_ms", "{:.0f}"),
    ("send_command p50 / p99, idle stations, ms", ("cmd_idle_p50_ms", "cmd_idle_p99_ms"), "{:.1f}"),
    ("  commands answered (max, ms)", ("cmd_idle_n", "cmd_idle_max_ms"), "{:.0f}"),
    (CPU, ("hold_server_cpu_pct", "hold_client_cpu_pct"), "{:.0f}"),
    ("saturated MeterValues acked/s", "saturated_per_s", "{:.0f}"),
    ("  server CPU, % of one core", "saturated_server_cpu_pct", "{:.0f}"),
    ("  PostgreSQL + Redis CPU, % of one core", "saturated_db_redis_cpu_pct", "{:.0f}"),
    ("  busiest load-client process CPU, %", "saturated_client_cpu_pct", "{:.0f}"),
    ("  all load-client processes CPU, % of one core", "saturated_clients_cpu_pct", "{:.0f}"),
    (COMMITS, ("saturated_commits_per_s", "saturated_commit_ms", "saturated_units_per_commit"), "{:.1f}"),
    (FALLBACKS, "saturated_fallbacks_per_s", "{:.1f}"),
    ("sustained target (half saturated), msg/s", "sustained_target_per_s", "{:.0f}"),
    ("sustained MeterValues acked/s", "sustained_per_s", "{:.0f}"),
    ("  ack p50 / p99, ms", ("sustained_p50_ms", "sustained_p99_ms"), "{:.1f}"),
    (COMMITS, ("sustained_commits_per_s", "sustained_commit_ms", "sustained_units_per_commit"), "{:.1f}"),
    (FALLBACKS, "sustained_fallbacks_per_s", "{:.1f}"),
    ("send_command p50 / p99 under that load, ms", ("cmd_load_p50_ms", "cmd_load_p99_ms"), "{:.1f}"),
    ("MeterValues acked (both phases)", "meter_acked", "{:.0f}"),
    ("MeterValue rows stored / lost", ("rows_stored", "rows_lost"), "{:.0f}"),
    ("reconnect storm: all booted again after, s", "storm_all_booted_s", "{:.2f}"),
    ("  half / 90 % booted after, s", ("storm_p50_s", "storm_p90_s"), "{:.2f}"),
    ("  half / 90 % of handshakes done after, s", ("storm_open_p50_s", "storm_open_p90_s"), "{:.2f}"),
    ("  booted / attempts / not back", ("storm_booted", "storm_attempts", "storm_failures"), "{:.0f}"),
    (CPU, ("storm_server_cpu_pct", "storm_client_cpu_pct"), "{:.0f}"),
    ("  then send_command answered / sent (sample)", ("storm_cmd_ok", "storm_cmd_sent"), "{:.0f}"),
]  # fmt: skip


def cell(result: dict, key, fmt: str) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    values = [result.get(k) for k in keys]
    if all(v is None for v in values):
        return "–"
    return " / ".join("–" if v is None else fmt.format(v) for v in values)


def ratio(a: dict, b: dict, key) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    parts = []
    for k in keys:
        x, y = a.get(k), b.get(k)
        parts.append(
            f"{x / y:.2f}x" if isinstance(x, int | float) and isinstance(y, int | float) and y else "–"
        )
    return " / ".join(parts)


def table(results: list[dict]) -> str:
    """Columns: each system, then each project system's ratio to the baseline."""
    baseline = next((r for r in results if r["kind"] == "baseline"), None)
    projects = [r for r in results if r["kind"] == "project"]
    head = ["figure", *(r["system"] for r in results)]
    if baseline:
        head += [f"{p['system']} / baseline" for p in projects]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, key, fmt in ROWS:
        row = [name, *(cell(r, key, fmt) for r in results)]
        if baseline:
            row += [ratio(p, baseline, key) for p in projects]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_before": [round(x, 2) for x in load],
    }


def service_versions(database_url: str, redis_url: str) -> dict:
    out = {}
    if database_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(database_url) as conn:
            out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    if redis_url:
        import redis

        out["redis"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    return out


def report(results: list[dict], runs: list[dict]) -> str:
    """RESULTS.md: each run's machine, date and command, then a table per
    station count and process count, and what failed."""
    lines = ["# EVPower benchmark results", ""]
    for run in runs:
        m = run["machine"]
        if "number" in run:
            lines.append(f"Run {run['number']}:")
        lines += [
            f"- date: {run['date']}",
            f"- command: `{run['command']}`",
            f"- machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
            f"Python {m['python']}",
            f"- load average (1, 5, 15 min) before the run {m['load_before']}, after {m.get('load_after')}",
            f"- project: {run['project']}",
            "- baseline: bench/baseline.py (`ocpp` + `websockets`, no database), same process count",
            f"- load client: {run.get('workers') or 'auto'} processes of bench/loadclient.py; "
            f"{run['seconds']:g} s per measured phase; phases: {run.get('phases', ', '.join(PHASES))}",
        ]
        if run.get("note"):
            lines.append(f"- note: {run['note']}")
        lines.append("")
    lines += [
        "Ratios are project / baseline (> 1x is more for the project: for latency and",
        "memory, worse). A dash: not measured (phase not chosen) or nothing to show.",
        "",
    ]
    for (stations, processes), group in groupby_config(results):
        lines += [f"## {stations} stations, {processes} server process{'es' if processes > 1 else ''}", ""]
        lines += [table(group), ""]
        for r in group:
            lines += [f"- {r['system']}: {line}" for line in failure_lines(r)]
        lines.append("")
    return "\n".join(lines)


def failure_lines(r: dict) -> list[str]:
    """What went wrong in one configuration, in words (empty: nothing)."""
    lines = []
    for key, what in (
        ("connect_failure_kinds", "connect failures"),
        ("storm_failure_kinds", "storm: failed attempts"),
        ("cmd_idle_errors", "send_command errors (idle)"),
        ("cmd_load_errors", "send_command errors (under load)"),
        ("storm_cmd_errors", "send_command errors after the storm"),
        ("connect_tcp", "kernel TCP counters during connect"),
        ("storm_tcp", "kernel TCP counters during the storm"),
    ):
        if r.get(key):
            lines.append(f"{what}: {r[key]}")
    if r.get("connect_failures"):
        lines.append(f"first connect failures: {r['connect_failures']}")
    for key in ("meter_failures", "heartbeat_failures", "storm_failures"):
        if r.get(key):
            lines.append(f"{key.replace('_', ' ')}: {r[key]}")
    log = r.get("server_log") or {}
    if log.get("top"):
        levels = ", ".join(f"{n} {level}" for level, n in sorted(log["levels"].items()))
        top = "; ".join(f"{n}x `{text}`" for text, n in log["top"])
        lines.append(f"server log ({levels}): {top}")
    return lines


def groupby_config(results: list[dict]):
    order = []
    for r in results:
        key = (r["stations"], r["processes"])
        if key not in order:
            order.append(key)
    return [(k, [r for r in results if (r["stations"], r["processes"]) == k]) for k in order]


# Main -----------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", default="200,2000", help="comma-separated station counts")
    parser.add_argument("--processes", default="1,2", help="comma-separated server process counts")
    parser.add_argument("--servers", default="daphne", help="project ASGI servers: daphne,uvicorn")
    parser.add_argument(
        "--baseline", action=argparse.BooleanOptionalAction, default=True, help="run the baseline too"
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"phases after connect, comma-separated from {','.join(PHASES)} (default all)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help=f"load-client processes (default: 2, or one per {STATIONS_PER_WORKER} stations)",
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured phase")
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        help="seconds between a held station's heartbeats (default: twice per hold; 0: none)",
    )
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=400,
        help="handshakes in flight, all load-client processes together (default 400)",
    )
    parser.add_argument(
        "--connect-rate", type=float, default=0, help="new connections per second in all (0: not paced)"
    )
    parser.add_argument(
        "--source-addresses",
        type=int,
        default=0,
        help=f"connect from 127.0.0.1..N (default: one per {CONNECTIONS_PER_SOURCE} stations per port)",
    )
    parser.add_argument(
        "--storm-seconds", type=float, help="how long stations may take to come back (default max(60, N/50))"
    )
    parser.add_argument(
        "--sustained-rate",
        type=float,
        help="MeterValues per second in all in the sustained phase (default: half the saturated rate)",
    )
    parser.add_argument(
        "--storm-open-timeout",
        type=float,
        default=10,
        help="seconds a station waits for its handshake in the storm before it retries (default 10)",
    )
    parser.add_argument("--profile", help="record the servers with py-spy (every phase) here")
    parser.add_argument(
        "--backlog",
        type=int,
        default=0,
        help="the servers' listen backlog (default: the project's as bin/asgi-server sets it, 4096; "
        "the baseline's websockets default; the kernel caps it at net.core.somaxconn)",
    )
    parser.add_argument("--daphne-args", default="", help="more options for Daphne (one string)")
    parser.add_argument("--uvicorn-args", default="", help="more options for Uvicorn (one string)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-memory layer (1 process)")
    parser.add_argument("--quick", action="store_true", help="5 stations, 1.5 s phases: a smoke run")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--log-dir", help="keep the server logs here (default: a new temporary directory)")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="run nothing: write one report from the --json files of earlier runs",
    )
    parser.add_argument(
        "--no-flush", action="store_true", help="do not empty the Redis database between systems"
    )
    parser.add_argument("--note", default="", help="a line for RESULTS.md (e.g. what else ran)")
    args = parser.parse_args()
    if args.quick:
        args.stations, args.seconds = "5", 1.5
    args.phases = tuple(p for p in args.phases.split(",") if p)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {', '.join(sorted(unknown))}; choose from {', '.join(PHASES)}")
    return args


def merge(paths: list[str], output: str) -> None:
    results, runs, seen = [], [], set()
    for number, path in enumerate(paths, 1):
        data = json.loads(Path(path).read_text())
        for result in data["results"]:
            key = (result["system"], result["stations"], result["processes"])
            if key in seen:  # the same configuration again: name its run
                result["system"] = f"{result['system']} (run {number})"
            seen.add(key)
            results.append(result)
        runs.append({**data["info"], "number": number})
    Path(output).write_text(report(results, runs))
    print(f"Written to {output}")


def main() -> None:
    args = arguments()
    if args.merge:
        merge(args.merge, args.output)
        return
    # Every socket is a file: raise the soft limit as far as allowed (the
    # server and client processes inherit it).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tmp = Path(tempfile.mkdtemp(prefix="evpower-bench-"))
    log_dir = Path(args.log_dir) if args.log_dir else tmp
    log_dir.mkdir(parents=True, exist_ok=True)
    if args.embedded:
        args.database_url, args.redis_url = f"sqlite:///{tmp}/bench.sqlite3", ""
    process_counts = [int(p) for p in args.processes.split(",")]
    if not args.redis_url:
        process_counts = [1]  # the in-memory layer is one process
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evpower.settings",
        "DATABASE_URL": args.database_url,
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run.py " + shlex.join(sys.argv[1:]),
        "machine": machine(),
        "workers": args.workers,
        "seconds": args.seconds,
        "phases": ", ".join(args.phases),
        "note": args.note,
    }

    database_reset(args.database_url)
    manage(env, "migrate", "--noinput", "-v0")
    token = manage(env, "shell", "-c", OPERATOR_TOKEN).strip().splitlines()[-1]
    versions = service_versions(args.database_url, args.redis_url)
    database = f"PostgreSQL {versions['postgresql']}" if "postgresql" in versions else "SQLite"
    layer = f"Redis {versions['redis']}" if "redis" in versions else "the in-memory channel layer"
    info["project"] = f"{args.servers} on {database} + {layer}"
    extra_args = {"daphne": shlex.split(args.daphne_args), "uvicorn": shlex.split(args.uvicorn_args)}

    results = []
    for stations in [int(s) for s in args.stations.split(",")]:
        for processes in process_counts:
            systems = []
            if args.baseline:
                systems.append(System(f"baseline {processes}p", "baseline", "websockets", processes, env=env))
            for server in args.servers.split(","):
                systems.append(
                    System(
                        f"project {server} {processes}p",
                        "project",
                        server,
                        processes,
                        env=env,
                        extra_args=extra_args.get(server, []),
                        backlog=args.backlog,
                    )
                )
            plan = Plan(
                stations=stations,
                seconds=args.seconds,
                phases=args.phases,
                heartbeat_interval=args.heartbeat_interval,
                connect_concurrency=args.connect_concurrency,
                connect_rate=args.connect_rate,
                sources=args.source_addresses or math.ceil(stations / processes / CONNECTIONS_PER_SOURCE),
                storm_seconds=args.storm_seconds,
                sustained_rate=args.sustained_rate,
                profile=args.profile,
                storm_open_timeout=args.storm_open_timeout,
            )
            workers = args.workers or max(2, math.ceil(stations / STATIONS_PER_WORKER))
            for system in systems:
                system.log_dir = log_dir
                if not args.no_flush:
                    redis_flush(args.redis_url)  # no stale presence from the last system
                clients = Clients(workers)
                try:
                    result = measure(system, clients, plan, token, args.database_url)
                finally:
                    clients.close()
                    for proc in system.procs:
                        if proc.poll() is None:
                            proc.kill()
                result["kind"] = system.kind
                result["source_addresses"] = plan.sources
                results.append(result)
                print(f"{system.label}, {stations} stations: done", file=sys.stderr, flush=True)
            group = [r for r in results if (r["stations"], r["processes"]) == (stations, processes)]
            print(table(group))
            for r in group:
                for line in failure_lines(r):
                    print(f"- {r['system']}: {line}")
            print(flush=True)

    info["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.output).write_text(report(results, [info]))
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "results": results}, indent=1, default=str))
    print(f"Written to {args.output} (server logs in {log_dir})")


if __name__ == "__main__":
    main()
