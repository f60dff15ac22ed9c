"""evpower.settings, loaded slowly (SLOW_SETTINGS_SECONDS): for the test that
bin/asgi-server listens before the application is loaded."""

import os
import time

time.sleep(float(os.environ["SLOW_SETTINGS_SECONDS"]))

from evpower.settings import *  # noqa: E402, F403
