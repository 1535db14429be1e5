"""`/status`: a fleet summary or one host, from any Prometheus-compatible API.

Example::

    service = StatusService(PrometheusClient(settings.prometheus), deadline=2.5,
                            aliases={"nas": "192.168.1.5:9101"})
    message = await service.status("nas")
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.domain import commands as catalog
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.domain.status import (
    FIRING_BY_INSTANCE_QUERY,
    FIRING_TOTAL_QUERY,
    NAMES_QUERY,
    TARGETS_QUERY,
    HostStatus,
    Target,
    ambiguous_host_message,
    detail_queries,
    fleet_message,
    host_message,
    host_queries,
    mounts_from,
    resolve,
    targets_from,
    temperatures_from,
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
        aliases: Mapping[str, str] | None = None,
    ):
        self.metrics = metrics
        self.host_jobs = tuple(host_jobs)
        self.aliases = dict(aliases or {})
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
        """The fleet summary (no host) or one host's status, as a message.

        Its outcome is "not_found" for a host that is unknown or ambiguous, "unavailable" when
        Prometheus cannot answer.
        """
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
        return targets_from(_pairs(up), _pairs(names), self.host_jobs, self.aliases)

    async def _status(self, host: str | None) -> Message:
        if host:
            targets = await self.targets()
            found = resolve([t for t, _ in targets], host)
            if found.candidates:
                return ambiguous_host_message(host, found.candidates)
            if found.target is None:
                return unknown_host_message(host, [t for t, _ in targets], self.aliases)
            up = dict(targets)[found.target]
            return host_message(await self.host(found.target, up, detail=True))
        targets, by_instance, total = await asyncio.gather(
            self.targets(),
            self.metrics.query(FIRING_BY_INSTANCE_QUERY),
            self.metrics.query(FIRING_TOTAL_QUERY),
        )
        firing = {s.labels.get("instance", ""): int(s.value) for s in by_instance}
        hosts = await asyncio.gather(
            *(self.host(t, up, firing.get(t.instance, 0)) for t, up in targets[:MAX_HOSTS])
        )
        return fleet_message(list(hosts), int(_first(total) or 0))

    async def host(
        self, target: Target, up: bool, alerts_firing: int = 0, detail: bool = False
    ) -> HostStatus:
        """One host's vital signs (only `up` when it is down); with `detail`, its mounts,
        temperatures, network throughput and firing alerts too (only the alerts when down)."""
        if not up and not detail:
            return HostStatus(target, up=False, alerts_firing=alerts_firing)
        first_row = [k for k in host_queries(target) if k != "up"] if up else []
        queries = {k: host_queries(target, self.rate_interval)[k] for k in first_row}
        if detail:
            more = detail_queries(target, self.rate_interval)
            queries.update(more if up else {"alerts": more["alerts"]})
        names = list(queries)
        results = await asyncio.gather(*(self.metrics.query(queries[k]) for k in names))
        r = dict(zip(names, results, strict=True))
        alert_names: tuple[str, ...] = ()
        if detail:
            alerts = {s.labels.get("alertname", ""): int(s.value) for s in r["alerts"]}
            alerts_firing, alert_names = sum(alerts.values()), tuple(sorted(alerts))
        if not up:
            return HostStatus(
                target, up=False, alerts_firing=alerts_firing, alert_names=alert_names
            )
        v = {k: _first(r[k]) for k in first_row}
        cores = v["cores"]
        status = HostStatus(
            target,
            up=True,
            cpu_busy=v["cpu_busy"],
            mem_used=v["mem_used"],
            rootfs_used=v["rootfs_used"],
            load1=v["load1"],
            load_percent=v["load_percent"],
            cores=int(cores) if cores is not None else None,
            uptime_seconds=v["uptime"],
            alerts_firing=alerts_firing,
            alert_names=alert_names,
        )
        if not detail:
            return status
        return replace(
            status,
            mounts=mounts_from(_pairs(r["mounts_used"]), _pairs(r["mounts_size"])),
            temperatures=temperatures_from(_pairs(r["temperatures"])),
            net_receive_bps=_first(r["net_receive"]),
            net_transmit_bps=_first(r["net_transmit"]),
        )


def _first(samples: list[Sample]) -> float | None:
    if not samples or math.isnan(samples[0].value):
        return None
    return samples[0].value


def _pairs(samples: list[Sample]) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in samples]
