"""`GET /health` really touches the database and the channel layer."""

import os
import socket

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.db.utils import ConnectionHandler
from django.test import override_settings
from rest_framework.test import APIClient

from evpower.api import health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_channel_layers():
    """Layers are cached per process; drop them so each test builds its own."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _redis_layer(url: str) -> dict:
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never answers (a hung server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _get_health():
    return APIClient().get("/health")


def test_healthy_service_answers_ok():
    response = _get_health()

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


def test_health_needs_no_credentials_and_ignores_bad_ones():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token bogus")

    assert client.get("/health").status_code == 200
    assert client.get("/health/").status_code == 200


def test_unreachable_redis_answers_503():
    with override_settings(CHANNEL_LAYERS=_redis_layer("redis://127.0.0.1:1/0")):
        response = _get_health()

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "channel_layer": "down"}


def test_hung_redis_answers_503_after_the_probe_timeout(silent_port, monkeypatch):
    # A server that accepts and never answers: only the probe's timeout ends the wait.
    monkeypatch.setattr(health, "PROBE_TIMEOUT", 0.5)
    with override_settings(CHANNEL_LAYERS=_redis_layer(f"redis://127.0.0.1:{silent_port}/0")):
        response = _get_health()

    assert response.status_code == 503
    assert response.json()["channel_layer"] == "down"


def test_layer_losing_the_ping_is_down():
    # Messages expire before they can be read: only a real round trip notices.
    layers = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"expiry": -1}}}
    with override_settings(CHANNEL_LAYERS=layers):
        response = _get_health()

    assert response.status_code == 503
    assert response.json()["channel_layer"] == "down"


def test_no_channel_layer_configured_is_down():
    with override_settings(CHANNEL_LAYERS={}):
        response = _get_health()

    assert response.status_code == 503
    assert response.json()["channel_layer"] == "down"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set")
def test_real_redis_layer_is_healthy():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"

    first = _get_health()
    second = _get_health()

    assert first.status_code == second.status_code == 200
    assert first.json()["channel_layer"] == "ok"


BROKEN_DATABASES = {
    # Nothing listens on port 1: the connection is refused.
    "postgresql": {"ENGINE": "django.db.backends.postgresql", "NAME": "x", "HOST": "127.0.0.1", "PORT": "1"},
    "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/nonexistent-dir/db.sqlite3"},
}


@pytest.fixture(params=sorted(BROKEN_DATABASES))
def broken_db(request):
    # A handler of its own, so the test database connections stay untouched.
    handler = ConnectionHandler({"default": BROKEN_DATABASES[request.param]})
    yield handler["default"]
    handler.close_all()


def test_database_probe_fails_on_an_unreachable_database(broken_db):
    assert health._database_ok(broken_db) is False


def test_database_probe_passes_on_the_real_database():
    assert health._database_ok() is True


def test_database_down_answers_503_naming_it(broken_db, monkeypatch):
    monkeypatch.setattr(health, "connection", broken_db)

    response = _get_health()

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "down", "channel_layer": "ok"}
