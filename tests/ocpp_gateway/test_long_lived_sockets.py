"""Station sockets live for months: nothing we ship may cut them after 24 h."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_daphne_is_started_without_its_24h_websocket_timeout():
    # bin/asgi-server is every launcher's (tests/deploy/test_deploy_files.py).
    text = (ROOT / "bin" / "asgi-server").read_text()
    assert "daphne" in text
    assert "--websocket_timeout -1" in text


@pytest.mark.parametrize(
    ("redis_url", "backend"),
    [
        ("redis://127.0.0.1:6379/9", "channels_redis.core.RedisChannelLayer"),
        (None, "channels.layers.InMemoryChannelLayer"),
    ],
)
def test_channel_layer_keeps_groups_for_years(monkeypatch, redis_url, backend):
    import evpower.settings as settings_module

    if redis_url:
        monkeypatch.setenv("REDIS_URL", redis_url)
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    try:
        config = importlib.reload(settings_module).CHANNEL_LAYERS["default"]
        assert config["BACKEND"] == backend
        assert config["CONFIG"]["group_expiry"] >= 365 * 24 * 3600
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)
