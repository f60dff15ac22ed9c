"""autobahn's debug-only pretty printing, paid per connection, is deferred
until a debug line is actually written."""

from autobahn.websocket import protocol

from evpower import daphne_patches


class Counted:
    reprs = 0

    def __repr__(self) -> str:
        Counted.reprs += 1
        return "counted"


def test_connection_options_are_formatted_only_when_logged():
    daphne_patches.apply()
    Counted.reprs = 0
    formatted = protocol.pformat([("option", Counted())])
    assert Counted.reprs == 0
    assert str(formatted) == "[('option', counted)]"
    assert Counted.reprs == 1


def test_timings_still_print_as_text():
    daphne_patches.apply()
    timings = protocol.Timings()
    timings.track("onOpen")
    assert isinstance(str(timings), str) and "onOpen" in str(timings)


def test_frames_highlight_their_debug_arguments_only_when_logged(monkeypatch):
    """Each frame sent and received names and colours its debug line's
    arguments (inspect, click) before the logger drops the line."""
    from autobahn import util
    from autobahn.twisted import websocket

    daphne_patches.apply()
    calls = []
    monkeypatch.setattr(util, "hl", lambda text, **kw: calls.append(text) or f"*{text}*")
    for module in (protocol, websocket):
        peer, func = module.hlval("tcp:127.0.0.1:5000"), module.hltype(util.hl)
        assert calls == []
        # What a written debug line reads: the same text as before.
        assert str(peer) == "*tcp:127.0.0.1:5000*"
        assert f"{func}".startswith("<*")  # as the logger formats it
        calls.clear()
