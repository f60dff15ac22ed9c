"""How a server process collects cyclic garbage.

Python's collector walks every tracked object of the generation it collects.
With thousands of stations held the oldest generation holds millions of
objects, and each full collection stopped the event loop for 65-250 ms at
1,000 stations, several times a minute under load: every frame and command in
flight waited (measured with `gc.callbacks`). What a station connection keeps
is freed by reference counting when it closes, not by the collector, so here
collections run far less often, and what the process built while starting
(Django, the URLconf, the compiled schemas) is left out of them for good.
"""

import gc

# Young collections as often as Python's default (a larger first threshold
# made each one 8-20 ms in the benchmark), full ones five times less often.
THRESHOLDS = (700, 10, 50)


def apply() -> None:
    """Once, at the end of start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
