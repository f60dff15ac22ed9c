"""Repeated failed logins lock out one username from one address: 429, for the API and the admin."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from evpower.models import Role
from tests.factories import PASSWORD, UserFactory
from tests.live import http

pytestmark = pytest.mark.django_db

LIMIT = 5  # LOGIN_FAILURE_LIMIT's default


@pytest.fixture(autouse=True)
def alice():
    return UserFactory(username="alice", role=Role.ADMIN)


def _token(username="alice", password=PASSWORD, address="10.0.0.1"):
    return APIClient(REMOTE_ADDR=address).post(
        "/auth/token", {"username": username, "password": password}, format="json"
    )


def _fail(times: int, username="alice", address="10.0.0.1") -> list[int]:
    return [_token(username, "wrong-password", address).status_code for _ in range(times)]


def test_failures_up_to_the_limit_lock_the_token_login_with_a_429_json_error():
    assert _fail(LIMIT - 1) == [400] * (LIMIT - 1)

    response = _token(password="wrong-password")

    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "too_many_attempts"
    assert "Try again in 15 minutes" in body["detail"]
    assert int(response["Retry-After"]) == 15 * 60


def test_while_locked_even_the_right_password_is_refused():
    _fail(LIMIT)

    response = _token()

    assert response.status_code == 429
    assert response.json()["error"] == "too_many_attempts"


def test_the_lock_is_per_username_and_address():
    _fail(LIMIT)

    assert _token(address="10.0.0.2").status_code == 200
    UserFactory(username="bob")
    assert _token(username="bob").status_code == 200


def test_a_successful_login_resets_the_count():
    _fail(LIMIT - 1)
    assert _token().status_code == 200

    assert _fail(LIMIT - 1) == [400] * (LIMIT - 1)
    assert _token().status_code == 200


def test_the_lock_ends_after_the_cool_off(settings):
    _fail(LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert _token().status_code == 200


def test_limit_and_cool_off_are_settings(settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)

    assert _fail(2) == [400, 429]
    assert "Try again in 1 minute." in _token().json()["detail"]


def _admin_login(client: Client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "alice", "password": password})


def test_admin_login_is_locked_with_a_429_page():
    browser = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(LIMIT - 1):
        assert _admin_login(browser, "wrong-password").status_code == 200  # the form again

    locked = _admin_login(browser, "wrong-password")

    assert locked.status_code == 429
    assert b"Too many failed login attempts" in locked.content
    assert locked["Content-Type"].startswith("text/html")
    assert _admin_login(browser, PASSWORD).status_code == 429


def test_failures_on_the_api_also_lock_the_admin_login():
    _fail(LIMIT)

    response = _admin_login(Client(REMOTE_ADDR="10.0.0.1"), PASSWORD)

    assert response.status_code == 429


@pytest.mark.e2e
async def test_lockout_answers_429_json_from_a_real_server(server):
    body = {"username": "alice", "password": "wrong-password"}
    statuses = [(await http(server, "POST", "/auth/token", payload=body)).status_code for _ in range(LIMIT)]
    locked = await http(server, "POST", "/auth/token", payload={**body, "password": PASSWORD})

    assert statuses == [400] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert locked.json()["error"] == "too_many_attempts"
