"""Under ASGI each request runs in a thread of its own: the database pool must
keep requests from opening a new PostgreSQL connection each."""

import pytest
import requests
from django.db import connection

pytestmark = pytest.mark.e2e


def _sessions_opened() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_api_requests_reuse_pooled_connections(server, live_token):
    if connection.vendor != "postgresql":
        pytest.skip("connection pooling is PostgreSQL's (DATABASE_URL is not PostgreSQL)")
    token = live_token()
    headers = {"Authorization": f"Token {token}"}
    requests.get(server.url + "/ocpp/stations", headers=headers, timeout=10)  # warm the pool
    before = _sessions_opened()
    for _ in range(30):
        assert requests.get(server.url + "/ocpp/stations", headers=headers, timeout=10).status_code == 200
    # pg_stat_database counts sessions as they end; let the server's pool settle.
    opened = _sessions_opened() - before
    assert opened < 10
