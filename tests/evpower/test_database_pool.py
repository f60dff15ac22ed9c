"""Under ASGI each request runs in a thread of its own: PostgreSQL connections
come from a pool, or every request would open a new one."""

import importlib

import pytest
import requests
from django.db import connection

import evpower.settings as settings_module


def test_postgresql_gets_a_connection_pool_and_no_per_thread_persistence(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/evpower")
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    try:
        reloaded = importlib.reload(settings_module)
        database = reloaded.DATABASES["default"]
        assert database["OPTIONS"]["pool"]["max_size"] == 7
        assert database["CONN_MAX_AGE"] == 0
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


def _sessions_opened() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.e2e
@pytest.mark.skipif(
    not settings_module.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="counts PostgreSQL sessions (the PostgreSQL + Redis leg runs it)",
)
def test_api_requests_reuse_pooled_connections(server, live_token):
    headers = {"Authorization": f"Token {live_token()}"}
    requests.get(server.url + "/ocpp/stations", headers=headers, timeout=10)  # warm the pool
    before = _sessions_opened()
    for _ in range(30):
        assert requests.get(server.url + "/ocpp/stations", headers=headers, timeout=10).status_code == 200
    assert _sessions_opened() - before < 10
