"""Station sockets live for months: nothing we ship may cut them after 24 h."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("launcher", ["Procfile", "bin/serve"])
def test_daphne_is_started_without_its_24h_websocket_timeout(launcher):
    text = (ROOT / launcher).read_text()
    assert "daphne" in text
    assert "--websocket_timeout -1" in text


def test_redis_channel_layer_keeps_groups_for_years(monkeypatch):
    import importlib

    import evpower.settings as settings_module

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    try:
        reloaded = importlib.reload(settings_module)
        config = reloaded.CHANNEL_LAYERS["default"]
        assert config["BACKEND"] == "channels_redis.core.RedisChannelLayer"
        assert config["CONFIG"]["group_expiry"] >= 365 * 24 * 3600
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


def test_in_memory_channel_layer_keeps_groups_for_years(monkeypatch):
    import importlib

    import evpower.settings as settings_module

    monkeypatch.delenv("REDIS_URL", raising=False)
    try:
        reloaded = importlib.reload(settings_module)
        config = reloaded.CHANNEL_LAYERS["default"]
        assert config["BACKEND"] == "channels.layers.InMemoryChannelLayer"
        assert config["CONFIG"]["group_expiry"] >= 365 * 24 * 3600
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)
