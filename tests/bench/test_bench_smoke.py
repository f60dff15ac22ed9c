"""The benchmark, run tiny, so it cannot rot: every phase against both the
project and the baseline, and the project's MeterValues all stored."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _target() -> list[str]:
    """PostgreSQL + Redis (two processes) when the suite runs on them, else
    the embedded default. The benchmark database is its own, named after the
    suite's, and dropped and created by the run."""
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if database.startswith("postgres") and redis:
        parts = urlsplit(database)
        bench_db = urlunsplit(parts._replace(path=parts.path + "_bench_smoke"))
        return ["--database-url", bench_db, "--redis-url", redis, "--processes", "2", "--no-flush"]
    return ["--embedded"]


@pytest.mark.timeout(90)
def test_tiny_benchmark_stores_every_acknowledged_meter_value(tmp_path):
    output, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--output", str(output), "--json", str(raw), *_target()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=85,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    results = {r["kind"]: r for r in json.loads(raw.read_text())["results"]}
    assert set(results) == {"baseline", "project"}
    for kind, result in results.items():
        stations = result["stations"]
        assert result["connected"] == result["held"] == stations, kind
        assert result["heartbeat_p99_ms"] is not None, kind
        assert result["saturated_per_s"] > 0 and result["sustained_per_s"] > 0, kind
        assert result["meter_failures"] == 0, kind
        assert result["cmd_idle_n"] > 0 and result["cmd_load_n"] > 0, kind
        assert not result["cmd_idle_errors"] and not result["cmd_load_errors"], kind
        assert result["storm_booted"] == stations and result["storm_all_booted_s"] is not None, kind
        assert result["storm_cmd_ok"] == result["storm_cmd_sent"] == stations, kind

    project = results["project"]
    assert project["meter_acked"] > 0
    assert project["rows_stored"] == project["meter_acked"]
    assert project["rows_lost"] == 0
    # Read from the server's /metrics (0 without loop commits: the embedded default).
    assert project["saturated_fallbacks_per_s"] >= 0 and project["sustained_fallbacks_per_s"] >= 0

    text = output.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| figure"))
    assert "baseline" in header and "project daphne" in header and "/ baseline" in header
    assert "saturated MeterValues acked/s" in text and "command: `python bench/run.py" in text
    assert "loop commits handed to the writer thread" in text
