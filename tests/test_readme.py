"""Every runnable example of README.md runs, as written, against a real server.

A ```sh block marked `<!-- test -->` runs in the foreground, one marked
`<!-- test: background -->` runs beside the next ones (a station simulator);
blocks run in order, per section (its `##`/`###` heading), in one shell, so
variables carry over. Outside "Deploying" (a server's own setup) every sh
block is marked, `<!-- no test: why -->` included, so none drifts unnoticed.
Substituted: `localhost:8000` by the test server, `manage.py` by its path;
`.demo-superadmin` holds the password of a superadmin `admin`; `TOKEN` is
set to an admin token for sections that do not make one themselves."""

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from evpower.models import Role
from tests.factories import UserFactory
from tests.live import ROOT, _test_database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

README = ROOT / "README.md"
MARKER = re.compile(r"<!-- (test|test: background|no test: [^>]+) -->")
NOT_EXAMPLES = "Deploying"  # installing a server: apt-get, docker, systemctl
SCRIPT_TIMEOUT = 120


@dataclass
class Section:
    title: str
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (marker, code)


def _readme() -> tuple[list[Section], list[str]]:
    """Sections with runnable blocks, and the unmarked sh blocks outside Deploying."""
    sections: dict[str, Section] = {}
    unmarked = []
    top = title = ""
    marker = None
    lines = README.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            top = title = line[3:].strip()
        elif line.startswith("### "):
            title = line[4:].strip()
        found = MARKER.fullmatch(line.strip())
        if found:
            marker = found.group(1)
        elif line.startswith("```"):
            end = lines.index("```", i + 1)
            if line.strip() == "```sh":
                code = "\n".join(lines[i + 1 : end])
                if marker is None and top != NOT_EXAMPLES:
                    unmarked.append(f"{title}: {code.splitlines()[0]}")
                elif marker in ("test", "test: background"):
                    sections.setdefault(title, Section(title)).blocks.append((marker, code))
            marker = None
            i = end
        elif line.strip():
            marker = None
        i += 1
    return list(sections.values()), unmarked


SECTIONS, UNMARKED = _readme()


def test_every_sh_example_outside_deploying_is_marked():
    assert UNMARKED == []
    assert {s.title for s in SECTIONS} >= {"First charge", "Connecting a station", "Invoicing export"}


def _script(section: Section, port: int) -> str:
    parts = ["set -eu"]
    for marker, code in section.blocks:
        code = code.replace("localhost:8000", f"127.0.0.1:{port}").replace(
            "python manage.py", f"python {ROOT / 'manage.py'}"
        )
        if marker == "test: background":
            parts.append(f"(\n{code}\n) > background.log 2>&1 &")
        else:
            parts.append(code)
    return "\n".join(parts) + "\n"


@pytest.fixture
def readme_env(tmp_path, start_server):
    server = start_server(fresh=True)
    admin = UserFactory(username="admin", role=Role.SUPERADMIN)
    admin.set_password("demo-superadmin-password-1")
    admin.save()
    (tmp_path / ".demo-superadmin").write_text("demo-superadmin-password-1\n")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": _test_database_url(),
        "TOKEN": Token.objects.create(user=admin).key,
    }
    return server, env, tmp_path


def _run(section: Section, readme_env) -> str:
    server, env, cwd = readme_env
    proc = subprocess.Popen(
        ["bash", "-c", _script(section, server.port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the background blocks end with it
    )
    try:
        output, _ = proc.communicate(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        log = cwd / "background.log"
        background = log.read_text() if log.exists() else ""
        pytest.fail(f"{section.title} did not finish:\n{output}\n{background}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, output
    return output


def _section(title: str) -> Section:
    return next(s for s in SECTIONS if s.title == title)


def test_first_charge_bills_the_session(readme_env):
    output = _run(_section("First charge"), readme_env)

    bill = output[output.rindex('{\n    "id"') :]  # the last answer, pretty-printed
    session = json.loads(bill)
    assert session["status"] == "completed"
    assert session["station_id"] == "CP-001" and session["id_tag"] == "DANA-1"
    assert Decimal(session["energy_kwh"]) > 0
    assert session["currency"] == "EUR" and Decimal(session["cost"]) > Decimal("0.50")
    assert session["tariff"]["name"] == "Standard"


def test_connecting_a_station(readme_env):
    output = _run(_section("Connecting a station"), readme_env)

    assert '"station_id":"CP-002"' in output
    assert '"error":"not_connected"' in output  # Reset before the station connected


def test_invoicing_export(readme_env):
    _, _, cwd = readme_env
    _run(_section("Invoicing export"), readme_env)

    for name in ("january.csv", "cp-001.csv"):
        assert (cwd / name).read_text().startswith("session_id,station_id,"), name
