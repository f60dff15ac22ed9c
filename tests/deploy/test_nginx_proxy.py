"""The shipped nginx config in front of two real server processes (PostgreSQL + Redis).

A station connects through nginx over TLS with Basic auth (security profile
2) and is commanded from either process; the API works through nginx; a
client cannot forge its address past it."""

import asyncio
import os
import shutil
import socket
import ssl

import pytest
import requests
import websockets
from asgiref.sync import sync_to_async
from django.db import connection

from stations.models import Station
from tests.deploy.nginx import Nginx, check, nginx_binary, render
from tests.live import Server, http
from tests.station import station_session, ws_path

# Percent-encoded in the URL: must pass nginx intact. (No ":": a Basic auth
# user name cannot hold one, RFC 7617.)
STATION = "CP-01#A+B.2 x"
SECRET = "AuthorizationKey-0123456789"


def _skip_reason() -> str | None:
    if connection.vendor == "sqlite" or not os.environ.get("REDIS_URL"):
        return "needs DATABASE_URL (PostgreSQL) and REDIS_URL: two server processes share Redis"
    if nginx_binary() is None or shutil.which("openssl") is None:
        return "nginx or openssl missing and not installable (bin/test installs them with apt-get as root)"
    return None


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or ""),
]


class ProxiedServer(Server):
    """The server as deployed: trusting X-Forwarded-* because only nginx reaches it."""

    def __init__(self, env: dict):
        super().__init__({"TRUST_PROXY_HEADERS": "True", **env})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Edge:
    """nginx's public side, shaped like a Server for `station_session` and `http`."""

    def __init__(self, http_port: int, https_port: int, cert):
        self.url = f"https://localhost:{https_port}"
        self.plain_url = f"http://127.0.0.1:{http_port}"
        self.https_port = https_port
        self.cert = str(cert)
        self.ssl = ssl.create_default_context(cafile=self.cert)

    def ws_url(self, station_id: str) -> str:
        return f"wss://localhost:{self.https_port}{ws_path(station_id)}"


@pytest.fixture
def deployment(transactional_db, tmp_path):
    servers = [ProxiedServer({}), ProxiedServer({})]
    http_port, https_port = _free_port(), _free_port()
    config = render(tmp_path, [s.port for s in servers], http_port, https_port)
    nginx = None
    try:
        checked = check(config)
        assert checked.returncode == 0, checked.stderr
        nginx = Nginx(config, [http_port, https_port])
        yield Edge(http_port, https_port, tmp_path / "fullchain.pem"), servers
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()


@pytest.fixture
def protected_station(transactional_db):
    station = Station(station_id=STATION)
    station.set_password(SECRET)
    station.save()
    return station


@pytest.fixture
def key(live_token):
    return live_token()


async def test_station_over_tls_through_nginx_is_commanded_from_both_processes(
    deployment, protected_station, key
):
    edge, servers = deployment
    async with station_session(edge, STATION, password=SECRET, ssl=edge.ssl) as station:
        await station.wait_for("GetConfiguration")
        for index, server in enumerate(servers):
            station.answers["Reset"] = {"status": "Accepted" if index == 0 else "Rejected"}
            command = {"station_id": STATION, "command": "Reset", "payload": {"type": "Soft"}}

            response = await http(server, "POST", "/ocpp/send_command", key, command)

            assert response.status_code == 200, (index, response.text)
            assert response.json()["response"] == station.answers["Reset"]
        assert [a for a, _ in station.received].count("Reset") == 2

        # The API through nginx, over plain HTTP and over TLS.
        for url, verify in ((edge.plain_url, True), (edge.url, edge.cert)):
            listed = await asyncio.to_thread(
                requests.get,
                url + "/ocpp/connections",
                headers={"Authorization": f"Token {key}"},
                verify=verify,
                timeout=30,
            )
            assert listed.status_code == 200, listed.text
            assert STATION in {c["station_id"] for c in listed.json()["results"]}


@pytest.mark.parametrize("password", [None, "wrong-password"])
async def test_wrong_station_credentials_are_refused_through_nginx(deployment, protected_station, password):
    edge, _ = deployment
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with station_session(edge, STATION, password=password, ssl=edge.ssl):
            pass
    assert refused.value.response.status_code in (401, 403)


async def test_an_untrusted_certificate_is_refused(deployment, protected_station):
    edge, _ = deployment
    with pytest.raises(ssl.SSLCertVerificationError):
        async with station_session(edge, STATION, password=SECRET, ssl=ssl.create_default_context()):
            pass


async def test_a_forged_x_forwarded_for_does_not_escape_the_login_lockout(deployment):
    edge, _ = deployment
    await sync_to_async(Station.objects.count)()  # the database is ready for the servers

    def attempt(n: int) -> int:
        return requests.post(
            edge.plain_url + "/auth/token",
            json={"username": "mallory", "password": "wrong"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
            timeout=30,
        ).status_code

    statuses = [await asyncio.to_thread(attempt, n) for n in range(5)]

    # nginx replaces the header with the real peer address: one client, one count.
    assert statuses == [400, 400, 400, 400, 429]
