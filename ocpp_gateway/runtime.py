"""The gateway of this process: its group-commit writer, its live presence and
its background tasks, in one object (`runtime`), the only mutable state the
project keeps at module level.

Writers and tasks are per event loop: a server has one loop; tests start and
stop many, and a writer bound to a closed loop must not be reused.
"""

import asyncio
import contextvars
import itertools
import logging
from collections.abc import Callable, Coroutine

import redis.asyncio as aredis
from django.conf import settings

from ocpp_gateway.writer import GroupCommitter

logger = logging.getLogger(__name__)

# Async Redis connections per process and event loop (presence, dashboard).
REDIS_CONNECTIONS = 50


class LocalPresence:
    """This process's connected stations: station id -> entry, the ids
    heard from since the last flush, whether all of them are to be
    published again (Redis failed or came back empty), and the connections
    that ended while Redis was unreachable (station id -> connection number),
    whose entries the next flush removes."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}
        self.dirty: set[str] = set()
        self.republish = False
        # Stations whose registration was given up on (dirty too): flush soon.
        self.soon = False
        self.gone: dict[str, int] = {}
        # Redis has known this process alive (its liveness key was set once).
        self.known = False


class DashboardWatch:
    """Whether anyone watches the staff dashboard (this process's viewers, or
    with Redis any process's, polled), and the stations changed since the
    last update was published."""

    def __init__(self) -> None:
        self.local_viewers = 0
        self.remote_viewers = False
        self.changed: set[int] = set()
        self.publish_pending = False
        self.publish_loop: asyncio.AbstractEventLoop | None = None


class GatewayRuntime:
    def __init__(self) -> None:
        self.presence = LocalPresence()
        # The station connections this process holds: station pk -> connection
        # (consumers.StationLink). Commands for them need no channel layer.
        self.connections: dict[int, object] = {}
        self.connection_numbers = itertools.count(1)
        # Connect-time station lookups waiting for the next batch (per loop),
        # and "replaced" notices waiting to be sent (per process holding them).
        self.lookups: dict[asyncio.AbstractEventLoop, dict[str, list[asyncio.Future]]] = {}
        self.replace_notices: dict[str, list[tuple[int, int]]] = {}
        self.dashboard = DashboardWatch()
        # Redis clients of presence: one sync client, one async client per loop.
        self.redis_sync = None
        self.redis_async: dict[asyncio.AbstractEventLoop, object] = {}
        self._writers: dict[asyncio.AbstractEventLoop, GroupCommitter] = {}
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task] = {}
        # Presence scripts waiting for the next pipeline: (loop, script) -> calls.
        self.redis_calls: dict[tuple[asyncio.AbstractEventLoop, str], list] = {}

    def redis(self) -> aredis.Redis:
        """This loop's async Redis client (presence, the dashboard's watch key).

        A blocking pool: in a reconnect storm thousands of stations register at
        once, and a call must wait for a connection, not fail (the default pool
        raises MaxConnectionsError past its size)."""
        loop = asyncio.get_running_loop()
        client = self.redis_async.get(loop)
        if client is None:
            pool = aredis.BlockingConnectionPool.from_url(
                settings.REDIS_URL, max_connections=REDIS_CONNECTIONS, timeout=10, socket_timeout=5
            )
            client = self.redis_async[loop] = aredis.Redis(connection_pool=pool)
        return client

    def committer(self) -> GroupCommitter:
        """The writer of the running event loop (one per process in production)."""
        loop = asyncio.get_running_loop()
        writer = self._writers.get(loop)
        if writer is None:
            self._forget_closed_loops()
            writer = self._writers[loop] = GroupCommitter()
        return writer

    def keep_running(self, name: str, start: Callable[[], Coroutine]) -> None:
        """Run the background task `name` on this loop unless it already runs;
        the reference is kept here (the loop holds tasks only weakly)."""
        loop = asyncio.get_running_loop()
        task = self._tasks.get((loop, name))
        if task is None or task.done():
            # Not the starting connection's context (its station id on every line).
            task = self._tasks[(loop, name)] = loop.create_task(
                start(), name=f"gateway-{name}", context=contextvars.Context()
            )
            task.add_done_callback(_background_task_done)

    def _forget_closed_loops(self) -> None:
        for loop in [lp for lp in self._writers if lp.is_closed()]:
            del self._writers[loop]
        for key in [k for k in self._tasks if k[0].is_closed()]:
            del self._tasks[key]
        for loop in [lp for lp in self.redis_async if lp.is_closed()]:
            del self.redis_async[loop]
        for key in [k for k in self.redis_calls if k[0].is_closed()]:
            del self.redis_calls[key]
        for loop in [lp for lp in self.lookups if lp.is_closed()]:
            del self.lookups[loop]


def _background_task_done(task: asyncio.Task) -> None:
    # Started again by the next caller; but its failure must not go unseen.
    if not task.cancelled() and task.exception() is not None:
        logger.error("Background task %s failed", task.get_name(), exc_info=task.exception())


runtime = GatewayRuntime()


def committer() -> GroupCommitter:
    return runtime.committer()
