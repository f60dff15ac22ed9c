"""`manage.py demo_superadmin`: a working superadmin login for a demo, never by accident in production."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from evpower.models import Role, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("demo_superadmin", *args, stdout=out)
    return out.getvalue()


def _printed_password(output: str) -> str:
    match = re.search(r"username: (\S+)\s+password: (\S+)", output)
    assert match, output
    return match.group(2)


def _login(username: str, password: str):
    return APIClient().post("/auth/token", {"username": username, "password": password}, format="json")


def test_creates_a_superadmin_whose_printed_password_logs_in(settings):
    settings.DEBUG = True

    password = _printed_password(_run())

    user = User.objects.get(username="admin")
    assert user.role == Role.SUPERADMIN
    assert user.is_superuser and user.is_staff and user.is_active
    token = _login("admin", password)
    assert token.status_code == 200
    me = APIClient(HTTP_AUTHORIZATION=f"Token {token.json()['token']}").get("/auth/me")
    assert me.json() == {"username": "admin", "role": "superadmin"}


def test_rerun_resets_the_password_and_revokes_the_old_token(settings):
    settings.DEBUG = True
    first = _printed_password(_run())
    old_token = _login("admin", first).json()["token"]

    second = _printed_password(_run())

    assert second != first
    assert User.objects.filter(username="admin").count() == 1
    assert _login("admin", first).status_code == 400
    assert _login("admin", second).status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Token {old_token}").get("/auth/me").status_code == 401


def test_existing_account_is_promoted_and_reactivated(settings):
    settings.DEBUG = True
    UserFactory(username="admin", role=Role.CLIENT, is_active=False)

    password = _printed_password(_run())

    user = User.objects.get(username="admin")
    assert (user.role, user.is_active) == (Role.SUPERADMIN, True)
    assert _login("admin", password).status_code == 200


def test_username_option(settings):
    settings.DEBUG = True

    password = _printed_password(_run("--username", "demo"))

    assert _login("demo", password).status_code == 200
    assert not User.objects.filter(username="admin").exists()


def test_refuses_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG off"):
        _run()

    assert not User.objects.filter(username="admin").exists()


def test_force_creates_it_with_debug_off(settings):
    settings.DEBUG = False

    password = _printed_password(_run("--force"))

    assert _login("admin", password).status_code == 200


def test_keep_creates_the_account_once_and_saves_its_password(settings, tmp_path):
    settings.DEBUG = True
    saved = tmp_path / "demo-password"

    output = _run("--keep", "--save-to", str(saved))

    password = _printed_password(output)
    assert saved.read_text().strip() == password
    assert saved.stat().st_mode & 0o777 == 0o600
    assert str(saved) in output
    assert _login("admin", password).status_code == 200


def test_keep_leaves_an_existing_account_its_password_and_tokens(settings, tmp_path):
    settings.DEBUG = True
    saved = tmp_path / "demo-password"
    password = _printed_password(_run("--keep", "--save-to", str(saved)))
    token = _login("admin", password).json()["token"]

    again = _run("--keep", "--save-to", str(saved))

    assert "password:" not in again
    assert f"password in {saved}" in again
    assert saved.read_text().strip() == password
    assert _login("admin", password).status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/auth/me").status_code == 200


def test_keep_says_so_when_the_saved_password_no_longer_matches(settings, tmp_path):
    settings.DEBUG = True
    UserFactory(username="admin", role=Role.SUPERADMIN)
    saved = tmp_path / "demo-password"
    saved.write_text("stale\n")

    output = _run("--keep", "--save-to", str(saved))

    assert "left unchanged" in output
    assert "demo_superadmin --username admin --save-to" in output
    assert saved.read_text() == "stale\n"
    assert _login("admin", PASSWORD).status_code == 200
