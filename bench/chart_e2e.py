"""`/chart` end to end: a member's slash command in simcord, through the bot's real service path
(HomelabBot, the core and its gate, ChartService, ChartData, the Prometheus client, the warmed
ChartPool), against a real Prometheus scraping the real exporter, until the answer carries its
PNG. Issue 10's target: p95 under 1 s on this machine.

Every request reaches Prometheus (the range cache is emptied before each one: its hits would
hide the query), and the requests cycle through every named chart and every range, so the
figure is the uncached path for each chart the catalogue has. Each request comes from a
member of its own, so the per-user rate limit lets every one through.

Example::

    python -m bench.chart_e2e              # 42 requests: 7 charts x 6 ranges, host "nas"
    print(format_e2e(chart_e2e(requests=4)))
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import cycle, islice, product
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

TARGET_P95_MS = 1000.0


@dataclass(frozen=True, slots=True)
class E2EFigures:
    """Wall ms of each `/chart`, from the slash command to the answer with its image."""

    ms: tuple[float, ...]
    data_ms: tuple[float, ...]  # of which: the range queries (ChartData.series)
    render_ms: tuple[float, ...]  # ... and the render in the pool (ChartPool.chart)
    charts: tuple[str, ...]  # chart/range of each request, in order
    load: float  # the machine's 1-minute load average at the end

    def percentile(self, q: float, of: tuple[float, ...] | None = None) -> float:
        """The q-th percentile (nearest rank) of the requests' times (or of `of`)."""
        ranked = sorted(self.ms if of is None else of) or [0.0]
        return ranked[min(len(ranked) - 1, max(0, round(q / 100 * len(ranked) + 0.5) - 1))]

    def met(self) -> bool:
        """Whether p95 is under the target."""
        return self.percentile(95) < TARGET_P95_MS


async def _run(requests: int, workdir: Path) -> E2EFigures:
    import simcord

    from bot.domain.charts import CHARTS, RANGES
    from bot.interfaces.discord.client import HomelabBot
    from bot.interfaces.runtime import Runtime
    from bot.services.chart_data import RangeCache
    from bot.settings import BotSettings
    from tests.harness.exporter import Exporter
    from tests.harness.services import Prometheus, ServiceGroup, static_job

    services = ServiceGroup(workdir / "services")
    try:
        exporter = services(Exporter, hostname="nas")
        prom = services(Prometheus, scrape_configs=[static_job("homelab-exporter",
                                                               exporter.address)])
        prom.wait_for("count_over_time(node_load1[1m]) >= 3", lambda r: len(r) == 1)
        prom.wait_for('node_uname_info{host="nas"}', lambda r: len(r) == 1)
        settings = BotSettings(
            database_path=workdir / "bot.sqlite3",
            image_dir=workdir / "images",
            prometheus={"url": prom.url, "scrape_interval_seconds": 1.0},
            roles={"default": "viewer"},
            web={"port": 0},
        )
        asked = list(islice(cycle(product(sorted(CHARTS), [name for name, _ in RANGES])),
                            requests))
        rt = await Runtime.build(settings)
        try:
            await rt.charts.start()  # as `homelab-bot run` does at start
            data = rt.chart_data
            assert data is not None
            data_ms: list[float] = []
            render_ms: list[float] = []
            data.series = _timed(data.series, data_ms)  # type: ignore[method-assign,assignment]
            rt.charts.chart = _timed(rt.charts.chart, render_ms)  # type: ignore[method-assign,assignment]
            async with simcord.run(HomelabBot(settings, rt.core)) as env:
                guild = env.create_guild()
                channel = guild.create_text_channel("charts")
                times = []
                for i, (chart, range_) in enumerate(asked):
                    # One member each: the per-user rate limit (kept in the path) would
                    # otherwise answer the fourth chart in a row with "slow down".
                    member = guild.add_member(env.create_user(f"member{i}"))
                    data.cache = RangeCache(data.cache.max_entries)  # every request queries
                    start = time.perf_counter()
                    result = await member.slash(channel, "chart", chart=chart, host="nas",
                                                range=range_)
                    times.append((time.perf_counter() - start) * 1000)
                    message = result.response.message if result.response else (
                        channel.last_message)
                    if message is None or not message.attachments:
                        said = message.content if message is not None else "nothing"
                        raise RuntimeError(f"/chart {chart} {range_} answered without an image:"
                                           f" {said!r}")
        finally:
            await rt.close()
    finally:
        services.stop_all()
    load = os.getloadavg()[0]
    return E2EFigures(tuple(times), tuple(data_ms), tuple(render_ms),
                      tuple(f"{c} {r}" for c, r in asked), load)


def _timed(call: Callable[..., Awaitable[T]], into: list[float]) -> Callable[..., Awaitable[T]]:
    """`call`, appending each call's wall ms to `into`."""

    async def timed(*args: Any, **kwargs: Any) -> T:
        start = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - start) * 1000)

    return timed


def chart_e2e(requests: int = 42) -> E2EFigures:
    """`requests` /chart commands in turn (every chart, every range), each one timed."""
    with tempfile.TemporaryDirectory(prefix="chart-e2e-") as tmp:
        return asyncio.run(_run(requests, Path(tmp)))


def format_e2e(f: E2EFigures) -> str:
    """p50, p95 and the slowest, against the target."""
    slowest = max(range(len(f.ms)), key=lambda i: f.ms[i])
    return "\n".join([
        f"/chart end to end (simcord -> bot -> real Prometheus + exporter -> chart pool -> PNG),"
        f" {len(f.ms)} requests, every chart and range, no cache hits; load average {f.load:.1f}:",
        f"  p50 {f.percentile(50):7.1f} ms   p95 {f.percentile(95):7.1f} ms"
        f"   max {f.ms[slowest]:7.1f} ms ({f.charts[slowest]})"
        f"   mean {statistics.fmean(f.ms):7.1f} ms  (target p95 < {TARGET_P95_MS:g} ms)",
        f"  of which the range queries: p50 {f.percentile(50, f.data_ms):7.1f} ms"
        f"   p95 {f.percentile(95, f.data_ms):7.1f} ms",
        f"  of which the render (pool):  p50 {f.percentile(50, f.render_ms):7.1f} ms"
        f"   p95 {f.percentile(95, f.render_ms):7.1f} ms",
        "target met" if f.met() else "TARGET MISSED",
    ])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=42)
    print(format_e2e(chart_e2e(parser.parse_args().requests)))
