"""The server process's collector settings (evpower.gc_tuning), checked in a
fresh interpreter that loads the ASGI application as Daphne and Uvicorn do."""

import json
import subprocess
import sys

from django.conf import settings

from evpower import gc_tuning

PROBE = """
import gc, json, sys
import evpower.asgi
print(json.dumps({
    "threshold": gc.get_threshold(),
    "frozen": gc.get_freeze_count(),
    "urlconf_loaded": "evpower.urls" in sys.modules,
    "freezes_survivors": sum(type(c).__name__ == "FreezeSurvivors" for c in gc.callbacks),
}))
"""


def _probe(code: str, **env) -> dict:
    """The JSON that `code` prints last, run in a fresh interpreter."""
    env = {"DJANGO_SETTINGS_MODULE": "evpower.settings", "PATH": "/usr/bin:/bin", **env}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
        env=env,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_asgi_application_loads_urlconf_and_tunes_the_collector():
    probe = _probe(PROBE)
    assert tuple(probe["threshold"]) == gc_tuning.THRESHOLDS
    # Start-up objects are out of every collection.
    assert probe["frozen"] > 10_000
    # The first request does not import the URLconf on a busy loop.
    assert probe["urlconf_loaded"] is True
    # Only a server the launcher started freezes what survives (not tests, not commands).
    assert probe["freezes_survivors"] == 0
    assert _probe(PROBE, **{gc_tuning.SERVER_PROCESS_ENV: "1"})["freezes_survivors"] == 1


SURVIVORS = """
import gc, json, weakref
from evpower import gc_tuning

class Node:
    pass

gc.collect()
gc.freeze()
now = [0.0]
gc.callbacks.append(gc_tuning.FreezeSurvivors(clock=lambda: now[0]))
kept = [Node() for _ in range(1000)]
gc.collect()
walked = {id(o) for o in gc.get_objects()}
kept_walked = sum(id(o) in walked for o in kept)

def dead_cycle():
    a, b = Node(), Node()
    a.b, b.a = b, a
    gc.collect()  # alive: frozen
    return weakref.ref(a)

cycle = dead_cycle()
gc.collect()
frozen_cycle_kept = cycle() is not None
now[0] = gc_tuning.RECHECK_SECONDS
gc.collect()  # an hour since, but not grown by a quarter: still frozen
gc.collect()
hour_only = cycle() is not None
more = [Node() for _ in range(2 * gc.get_freeze_count())]
gc.collect()  # grown, but not an hour since the last check: still frozen
gc.collect()
grown_only = cycle() is not None
now[0] = 2 * gc_tuning.RECHECK_SECONDS
gc.collect()  # grown and an hour since: unfrozen, for the next one
gc.collect()  # walks everything
print(json.dumps({
    "kept_walked": kept_walked,
    "frozen_cycle_kept": frozen_cycle_kept,
    "hour_only": hour_only,
    "grown_only": grown_only,
    "collected_after_recheck": cycle() is None,
    "kept_alive": all(isinstance(o, Node) for o in kept + more),
}))
"""


def test_what_survives_a_full_collection_is_walked_again_only_after_an_hour_of_growth():
    """A server's stations are walked by one full collection, not by every
    one; a garbage cycle among them is freed by the hourly walk over all."""
    probe = _probe(SURVIVORS)
    assert probe["kept_walked"] == 0  # frozen by the full collection they survived
    assert probe["frozen_cycle_kept"] is True  # the price: kept while frozen
    assert probe["hour_only"] is True
    assert probe["grown_only"] is True
    assert probe["collected_after_recheck"] is True
    assert probe["kept_alive"] is True
