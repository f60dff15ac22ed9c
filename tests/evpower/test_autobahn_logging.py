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
