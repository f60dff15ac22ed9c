"""Periodic upkeep, run by every gateway process (all jobs are idempotent):
sessions that never started fail, reservations expire, the message log is pruned."""

import asyncio
import importlib
import logging
import time

from ocpp_gateway.timefmt import utcnow
from ocpp_gateway.writer import committer

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 30
PRUNE_EVERY_SECONDS = 3600

# (module, function, minimum seconds between runs)
JOBS = (
    ("billing.sessions", "sessions_fail_stale", INTERVAL_SECONDS),
    ("stations.reservations", "reservations_expire", INTERVAL_SECONDS),
    ("stations.services", "message_log_prune", PRUNE_EVERY_SECONDS),
)

_tasks: dict = {}
_last_run: dict[str, float] = {}


def ensure_running() -> None:
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(_forever())


def run_due_jobs() -> None:
    """Run the jobs that are due (sync; on the writer thread or from a command)."""
    now = utcnow()
    for module_name, function_name, every in JOBS:
        key = f"{module_name}.{function_name}"
        if time.monotonic() - _last_run.get(key, -1e9) < every:
            continue
        _last_run[key] = time.monotonic()
        job = getattr(importlib.import_module(module_name), function_name, None)
        if job is None:
            continue
        try:
            count = job(now=now)
            if count:
                logger.info("%s: %s rows", key, count)
        except Exception:
            logger.exception("Housekeeping job %s failed", key)


async def _forever() -> None:
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await committer().call(run_due_jobs)
        except Exception:
            logger.exception("Housekeeping failed")
