"""Many simulated stations in one process, with a summary line per interval."""

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from urllib.parse import quote, urlsplit, urlunsplit

from .station import SimulatedStation, StationOptions

log = logging.getLogger("simulator.fleet")


def station_ids(base: str, count: int) -> list[str]:
    """`base` alone, or `base-0001`… for a fleet (more digits past 9,999)."""
    if count == 1:
        return [base]
    width = max(4, len(str(count)))
    return [f"{base}-{n:0{width}d}" for n in range(1, count + 1)]


def station_url(url: str, station_id: str) -> str:
    """`url` for `station_id`: `{id}` replaced by the percent-encoded id, or, without
    that placeholder, the URL's last path segment replaced by it."""
    encoded = quote(station_id, safe="")
    if "{id}" in url:
        return url.replace("{id}", encoded)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/" + encoded))


class Fleet:
    def __init__(self, template: StationOptions, count: int):
        self.stations = [
            SimulatedStation(replace(template, station_id=sid, url=station_url(template.url, sid)))
            for sid in station_ids(template.station_id, count)
        ]
        self._messages = 0
        self._since = time.monotonic()

    def summary(self) -> str:
        """Counts now and the message rate (in + out) since the previous summary."""
        now = time.monotonic()
        messages = sum(s.messages_in + s.messages_out for s in self.stations)
        rate = (messages - self._messages) / max(now - self._since, 1e-9)
        self._messages, self._since = messages, now
        return (
            f"{sum(s.connected for s in self.stations)}/{len(self.stations)} connected, "
            f"{sum(s.booted for s in self.stations)} booted, "
            f"{sum(s.charging for s in self.stations)} charging, {rate:.1f} msg/s"
        )

    async def run(self, *, ramp: float = 0, summary_interval: float = 10) -> None:
        """Run every station until cancelled; start `ramp` per second (0: all at once)."""
        tasks = []
        reporter = None
        if len(self.stations) > 1 and summary_interval > 0:
            reporter = asyncio.create_task(self._report(summary_interval))
        try:
            for station in self.stations:
                tasks.append(asyncio.create_task(station.run()))
                if ramp > 0:
                    await asyncio.sleep(1 / ramp)
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, reporter]:
                if task is not None:
                    task.cancel()
            for station in self.stations:
                station.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _report(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            log.info("fleet: %s", self.summary())
