"""How a server process collects cyclic garbage.

Python's collector walks every tracked object of the generation it collects.
With thousands of stations held the oldest generation holds millions of
objects, and each full collection stopped the event loop for 65-250 ms at
1,000 stations, several times a minute under load: every frame and command in
flight waited (measured with `gc.callbacks`). What a station connection keeps
is freed by reference counting when it closes, not by the collector, so here
collections run far less often, and what the process built while starting
(Django, the URLconf, the compiled schemas) is left out of them (in a server,
until the hourly recheck below).

A server started by the launcher (bin/asgi-server) also leaves out, after
each full collection, what survived it (see FreezeSurvivors).
"""

import gc
import os
import time
from collections.abc import Callable

# Young collections as often as Python's default (a larger first threshold
# made each one 8-20 ms in the benchmark), full ones five times less often.
THRESHOLDS = (700, 10, 50)

# Set by the launcher (evpower.prebind) for the server it starts: a process
# that holds stations for days, unlike a test run or a management command.
SERVER_PROCESS_ENV = "EVPOWER_SERVER_PROCESS"

# How often at most, and past what growth of the objects left out, a full
# collection walks every object again (see FreezeSurvivors).
RECHECK_SECONDS = 3600.0
RECHECK_GROWTH = 1.25


class FreezeSurvivors:
    """A `gc.callbacks` entry: what survived a full collection is frozen, so
    the next ones walk only what became long-lived since.

    A server holds about a hundred tracked objects per station (its
    connection, protocol, tasks, timers), and they are long-lived. Every
    full collection walked them all, and more each time: 2,000 stations
    under load for a minute (Uvicorn, 1,700 MeterValues/s), four full
    collections stopped the loop for 129, 219, 229 and 286 ms; with this,
    162, 104, 91 and 63 ms, and the minute's ack p99 fell from 438 to
    257 ms (at 10,000 stations a full walk is most of a second). They are
    walked once now, by the first full collection after they came.

    A frozen object that later becomes part of a garbage cycle is never
    collected while frozen (what is freed by reference counting, as a
    closed station's objects are, is freed as ever). So, once per
    RECHECK_SECONDS at most, if the frozen objects have grown by
    RECHECK_GROWTH since, they are unfrozen and the next full collection
    walks everything: one long pause an hour, not one every few minutes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._checked_at = clock()
        self._checked_frozen = gc.get_freeze_count()
        self._walking_all = False

    def __call__(self, phase: str, info: dict) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        gc.freeze()  # O(1): the generation's list joins the frozen one
        if self._walking_all:  # this collection walked every object
            self._walking_all = False
            self._checked_at, self._checked_frozen = self._clock(), gc.get_freeze_count()
        elif self._clock() - self._checked_at >= RECHECK_SECONDS:
            # (Counting walks the frozen list: not after every collection.)
            self._checked_at = self._clock()
            if gc.get_freeze_count() > RECHECK_GROWTH * self._checked_frozen:
                gc.unfreeze()  # into the oldest generation: the next full collection walks them
                self._walking_all = True


def apply() -> None:
    """Once, at the end of start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    if os.environ.get(SERVER_PROCESS_ENV) == "1":
        gc.callbacks.append(FreezeSurvivors())
