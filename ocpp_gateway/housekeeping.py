"""Periodic upkeep, run by every gateway process (all jobs are idempotent):
sessions that never started fail, reservations expire, the message log is pruned."""

import asyncio
import logging
import time

from billing.sessions import sessions_fail_stale
from evpower.clock import utcnow
from ocpp_gateway.runtime import committer
from stations.message_log import message_log_prune
from stations.reservations import reservations_expire

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 30
PRUNE_EVERY_SECONDS = 3600

# (job, minimum seconds between runs); each job takes `now` and returns a row count.
JOBS = (
    (sessions_fail_stale, INTERVAL_SECONDS),
    (reservations_expire, INTERVAL_SECONDS),
    (message_log_prune, PRUNE_EVERY_SECONDS),
)


def run_due_jobs(*, last_run: dict[str, float]) -> None:
    """Run the jobs that are due by `last_run` (job name -> monotonic time of
    its last run, updated); sync: on the writer thread or from a command."""
    now = utcnow()
    for job, every in JOBS:
        name = job.__name__
        if time.monotonic() - last_run.get(name, -1e9) < every:
            continue
        last_run[name] = time.monotonic()
        try:
            count = job(now=now)
            if count:
                logger.info("%s: %s rows", name, count)
        except Exception:
            logger.exception("Housekeeping job %s failed", name)


async def forever() -> None:
    last_run: dict[str, float] = {}
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await committer().call(lambda: run_due_jobs(last_run=last_run))
        except Exception:
            logger.exception("Housekeeping failed")
