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
}))
"""


def test_asgi_application_loads_urlconf_and_tunes_the_collector():
    env = {"DJANGO_SETTINGS_MODULE": "evpower.settings", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
        env=env,
        timeout=60,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert tuple(probe["threshold"]) == gc_tuning.THRESHOLDS
    # Start-up objects are out of every collection.
    assert probe["frozen"] > 10_000
    # The first request does not import the URLconf on a busy loop.
    assert probe["urlconf_loaded"] is True
