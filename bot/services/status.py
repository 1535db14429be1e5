"""`/status`: a fleet summary or one host, from any Prometheus-compatible API.

Example::

    service = StatusService(PrometheusClient(settings.prometheus), deadline=2.5)
    message = await service.status("nas")
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence

from bot.domain import commands as catalog
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.domain.status import (
    NAMES_QUERY,
    TARGETS_QUERY,
    HostStatus,
    Target,
    find_target,
    fleet_message,
    host_message,
    host_queries,
    targets_from,
    unavailable_message,
    unknown_host_message,
)
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import MetricsSource, MetricsUnavailable, Sample

log = logging.getLogger(__name__)

MAX_HOSTS = 50


class StatusService:
    """Answers /status within `deadline` seconds, with a clear message when it cannot."""

    def __init__(
        self,
        metrics: MetricsSource,
        deadline: float = 2.5,
        rate_interval: str = "1m",
        host_jobs: Sequence[str] = (),
    ):
        self.metrics = metrics
        self.host_jobs = tuple(host_jobs)
        self.deadline = deadline
        self.rate_interval = rate_interval

    def commands(self) -> Mapping[str, CommandHandler]:
        """The status part of the catalogue."""
        return {catalog.STATUS.name: self._command}

    def components(self) -> Mapping[str, ComponentHandler]:
        """The Refresh button, which carries the host it shows."""
        return {catalog.STATUS_REFRESH.route: self._refresh}

    async def _command(self, actor: Actor, host: str | None = None) -> Message:
        return await self.status(host)

    async def _refresh(
        self, actor: Actor, arg: str, values: list[str], form: Mapping[str, object]
    ) -> Message:
        return await self.status(arg or None)

    async def status(self, host: str | None = None) -> Message:
        """The fleet summary (no host) or one host's status, as a message."""
        try:
            async with asyncio.timeout(self.deadline):
                return await self._status(host)
        except TimeoutError:
            reason = f"no answer within {self.deadline:g} s"
        except MetricsUnavailable as exc:
            reason = exc.reason
        log.warning("status unavailable from %s: %s", self.metrics.source, reason)
        return unavailable_message(self.metrics.source, reason, host or "")

    async def targets(self) -> list[tuple[Target, bool]]:
        """Every host Prometheus scrapes, and whether it is up."""
        up, names = await asyncio.gather(
            self.metrics.query(TARGETS_QUERY), self.metrics.query(NAMES_QUERY)
        )
        return targets_from(_pairs(up), _pairs(names), self.host_jobs)

    async def _status(self, host: str | None) -> Message:
        targets = await self.targets()
        if host:
            target = find_target([t for t, _ in targets], host)
            if target is None:
                return unknown_host_message(host, [t for t, _ in targets])
            up = dict(targets)[target]
            return host_message(await self.host(target, up))
        hosts = await asyncio.gather(*(self.host(t, up) for t, up in targets[:MAX_HOSTS]))
        return fleet_message(list(hosts))

    async def host(self, target: Target, up: bool) -> HostStatus:
        """One host's vital signs (only `up` when it is down)."""
        if not up:
            return HostStatus(target, up=False)
        queries = host_queries(target, self.rate_interval)
        names = [k for k in queries if k != "up"]
        results = await asyncio.gather(*(self.metrics.query(queries[k]) for k in names))
        v = {k: _first(r) for k, r in zip(names, results, strict=True)}
        cores = v["cores"]
        return HostStatus(
            target,
            up=True,
            cpu_busy=v["cpu_busy"],
            mem_used=v["mem_used"],
            rootfs_used=v["rootfs_used"],
            load1=v["load1"],
            load_percent=v["load_percent"],
            cores=int(cores) if cores is not None else None,
            uptime_seconds=v["uptime"],
        )


def _first(samples: list[Sample]) -> float | None:
    if not samples or math.isnan(samples[0].value):
        return None
    return samples[0].value


def _pairs(samples: list[Sample]) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in samples]
