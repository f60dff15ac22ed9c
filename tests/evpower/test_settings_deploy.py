"""Production settings pass Django's deploy checks; an unsafe SECRET_KEY stops the process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DEBUG": "False", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "example.com"}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    full_env.update(DJANGO_SETTINGS_MODULE="evpower.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_pass_the_deploy_checks():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_deploy_checks_do_fail_on_development_settings():
    # Proves the check above is not vacuous: DEBUG on is itself a deploy warning.
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="True")

    assert result.returncode != 0
    assert "security.W018" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [
        "",
        "django-insecure-dev-only-never-use-in-production-but-long-enough-anyway-0123",
        "too-short-" + "x" * 30,
    ],
    ids=["empty", "insecure-prefix", "short"],
)
def test_debug_off_with_an_unsafe_secret_key_refuses_to_start(secret_key):
    result = _manage("check", DEBUG="False", SECRET_KEY=secret_key, ALLOWED_HOSTS="example.com")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a local .env may supply SECRET_KEY")
def test_debug_off_without_secret_key_refuses_to_start():
    result = _manage("check", DEBUG="False", ALLOWED_HOSTS="example.com")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_debug_off_without_allowed_hosts_answers_no_one():
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.ALLOWED_HOSTS)",
        DEBUG="False",
        SECRET_KEY=PRODUCTION["SECRET_KEY"],
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
