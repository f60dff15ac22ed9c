"""bin/asgi-server, the one launcher of bin/serve, the Procfile, the image and
the systemd unit (and of every live server in these tests): both servers it
offers serve the API and stations, with the accept queue a storm needs."""

import shutil
import socket
import subprocess
import time

import pytest
from asgiref.sync import sync_to_async

from tests.live import ROOT, Server, http
from tests.station import station_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _listen_backlog(port: int) -> int:
    """The accept queue of the socket listening on `port` (`ss` shows it as Send-Q)."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[2])


def _somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


@pytest.mark.parametrize("asgi_server", ["daphne", "uvicorn"])
async def test_the_launcher_serves_api_and_stations_with_a_storm_sized_accept_queue(
    start_server, live_token, asgi_server
):
    server = await sync_to_async(start_server)(fresh=True, ASGI_SERVER=asgi_server)
    key = await sync_to_async(live_token)()

    async with station_session(server, f"LAUNCH-{asgi_server}") as station:
        station.answers["Reset"] = {"status": "Accepted"}
        command = {"station_id": f"LAUNCH-{asgi_server}", "command": "Reset", "payload": {"type": "Soft"}}
        response = await http(server, "POST", "/ocpp/send_command", key, command)

    assert response.status_code == 200, response.text
    assert response.json()["response"] == {"status": "Accepted"}
    if shutil.which("ss"):
        # Not the servers' defaults (Twisted 50, Uvicorn 2048).
        assert _listen_backlog(server.port) == min(4096, _somaxconn())
    with open(f"/proc/{server.proc.pid}/cmdline", "rb") as f:
        assert f"-m\0{asgi_server}\0".encode() in f.read()
    with open(f"/proc/{server.proc.pid}/environ", "rb") as f:
        # Its collector leaves out what survives (evpower.gc_tuning).
        assert b"\0EVPOWER_SERVER_PROCESS=1\0" in b"\0" + f.read()


def test_an_unknown_server_is_refused_with_a_message():
    result = subprocess.run(
        ["bin/asgi-server", "127.0.0.1", "1"],
        capture_output=True,
        text=True,
        env={"ASGI_SERVER": "gunicorn", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        timeout=10,
    )
    assert result.returncode == 2
    assert "daphne or uvicorn" in result.stderr


@pytest.mark.parametrize("asgi_server", ["daphne", "uvicorn"])
def test_the_launcher_listens_before_it_loads_the_application(asgi_server):
    """A station reconnecting while a restarted server loads is held in the
    accept queue and answered once it is loaded, not refused (and left to
    its own back-off)."""
    loading = 3  # seconds (tests/slow_settings.py)
    env = {
        "ASGI_SERVER": asgi_server,
        "DJANGO_SETTINGS_MODULE": "tests.slow_settings",
        "SLOW_SETTINGS_SECONDS": loading,
    }
    started = time.monotonic()
    server = Server(env, wait_ready=False)
    try:
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                break
            except ConnectionRefusedError:
                assert time.monotonic() - started < 1, "refused for a second: not listening yet"
                time.sleep(0.01)
        connected = time.monotonic() - started
        with conn:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        answered = time.monotonic() - started
    finally:
        server.stop()
    assert connected < 1 <= loading <= answered  # connected while it was loading
    assert response.startswith(b"HTTP/1.1 200"), response[:200]


def test_connections_to_the_launchers_socket_are_handed_over_without_nagle():
    """Uvicorn adopts the socket as a Unix one, so asyncio no longer turns
    Nagle off per connection: the listener does, and connections inherit it."""
    from evpower.prebind import listen

    with listen("127.0.0.1", 0, 16) as listener, socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason="no dual-stack IPv6 here")
def test_the_launcher_listening_on_every_ipv6_address_takes_ipv4_too():
    from evpower.prebind import listen

    with listen("::", 0, 16) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, address = listener.accept()
            accepted.close()
    assert address[0] == "::ffff:127.0.0.1"
