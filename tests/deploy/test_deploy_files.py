"""What ships for deployment: Dockerfile, compose file, nginx config, systemd units."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.nginx import SHIPPED, check, make_certificate, nginx_binary

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


LAUNCHERS = ["Dockerfile", "deploy/systemd/evpower@.service", "Procfile", "bin/serve"]


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_every_launcher_starts_the_server_through_bin_asgi_server(launcher):
    # Its options (sockets kept open, accept queue, handshake time) are tested
    # in test_asgi_server.py and used by every live server of the suite.
    assert "bin/asgi-server" in (ROOT / launcher).read_text()


def test_servers_behind_the_proxy_trust_its_headers():
    assert _compose()["services"]["web"]["environment"]["TRUST_PROXY_HEADERS"] == "True"
    assert "TRUST_PROXY_HEADERS=True" in (SYSTEMD / "evpower.env.example").read_text().splitlines()


def test_systemd_instances_listen_on_loopback_only_with_many_file_descriptors():
    unit = (SYSTEMD / "evpower@.service").read_text()
    assert "ExecStart=/opt/evpower/bin/asgi-server 127.0.0.1 %i" in unit
    assert "Restart=always" in unit
    assert "EnvironmentFile=/etc/evpower/evpower.env" in unit
    limit = next(line for line in unit.splitlines() if line.startswith("LimitNOFILE="))
    assert int(limit.split("=")[1]) >= 65536


def test_the_nginx_upstream_for_systemd_names_the_instance_ports():
    backend = (SHIPPED / "backend-systemd.conf").read_text()
    for port in range(8001, 8005):
        assert f"server 127.0.0.1:{port};" in backend


def test_dockerfile_runs_unprivileged_with_collected_static_files_and_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "USER evpower" in text
    assert "collectstatic --noinput" in text
    assert "HEALTHCHECK" in text and "deploy/healthcheck.py" in text
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_compose_publishes_only_nginx_and_keeps_the_rest_internal():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"migrate", "web", "postgres", "redis", "nginx"}
    assert [name for name, service in services.items() if "ports" in service] == ["nginx"]
    assert set(services["nginx"]["ports"]) >= {"80:80", "443:443"}
    assert compose["networks"]["backend"]["internal"] is True
    assert services["web"]["networks"] == ["backend"]
    assert services["web"]["environment"]["TRUST_PROXY_HEADERS"] == "True"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["postgres"]["image"] == "postgres:16" and "healthcheck" in services["postgres"]
    assert services["redis"]["image"].startswith("redis:7") and "healthcheck" in services["redis"]
    mounts = " ".join(services["nginx"]["volumes"])
    for name in ("nginx.conf", "evpower.conf", "backend-compose.conf", "deploy/tls"):
        assert name in mounts


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.skipif(_compose_cli() is None, reason="neither `docker compose` nor `docker-compose` installed")
def test_docker_compose_accepts_the_file_and_insists_on_a_database_password(tmp_path):
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    env = (ROOT / "deploy" / "compose.env.example").read_text()

    def config(extra: str) -> subprocess.CompletedProcess:
        (tmp_path / ".env").write_text(env + extra)
        return subprocess.run(
            [*_compose_cli(), "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    accepted = config("POSTGRES_PASSWORD=s3cret\n")
    refused = config("")

    assert accepted.returncode == 0, accepted.stderr
    assert refused.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in refused.stderr


@pytest.mark.skipif(
    nginx_binary() is None or shutil.which("openssl") is None,
    reason="nginx or openssl is not installed (bin/test installs them with apt-get as root)",
)
@pytest.mark.parametrize("backend", ["backend-compose.conf", "backend-systemd.conf"])
def test_nginx_accepts_the_shipped_configuration(tmp_path, backend):
    """`nginx -t` on the shipped files as they are, only the paths moved into a scratch directory."""
    cert, key = make_certificate(tmp_path)
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    site = (SHIPPED / "evpower.conf").read_text()
    site = site.replace("/etc/nginx/tls/fullchain.pem", str(cert))
    site = site.replace("/etc/nginx/tls/privkey.pem", str(key))
    (conf_d / "evpower.conf").write_text(site)
    shutil.copy(SHIPPED / backend, conf_d / "backend.conf")
    main = (SHIPPED / "nginx.conf").read_text()
    main = main.replace("/etc/nginx/conf.d/", f"{conf_d}/").replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "nginx.conf").write_text(main)

    result = check(tmp_path / "nginx.conf")

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_container_healthcheck_passes_against_a_running_server(server):
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py")],
        env={**os.environ, "PORT": str(server.port), "ALLOWED_HOSTS": "csms.example.com,localhost"},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stdout
    assert "/health: 200" in result.stdout
