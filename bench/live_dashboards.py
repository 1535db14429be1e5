"""Twenty live dashboards in one channel refreshing for five minutes of simcord's clock, against
a real Prometheus scraping the real exporter and a real Alertmanager: Discord requests per
minute, the most in any 5 s, and CPU seconds per refresh (the bot's process and the chart
worker's, from /proc).

Example::

    python -m bench --only live_dashboards
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MIX = [("fleet", "")] * 10 + [("host", "nas")] * 5 + [("alerts", "")] * 3 + [("welcome", "")] * 2
MINUTES = 5
TICK = 5.0
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """What 20 dashboards cost over `minutes` of simcord's clock."""

    dashboards: int
    minutes: float
    requests: int  # Discord REST calls for the dashboards (posts, edits, deletes)
    most_in_5s: int
    refreshes: int  # refreshes that sent an edit
    skipped: int  # refreshes whose data had not changed
    cpu_seconds: float  # the bot's process and its chart worker
    wall_seconds: float

    @property
    def per_minute(self) -> float:
        """Discord requests per minute."""
        return self.requests / self.minutes

    @property
    def cpu_per_refresh(self) -> float:
        """CPU seconds per refresh that looked (edited or skipped)."""
        return self.cpu_seconds / max(self.refreshes + self.skipped, 1)


def _cpu_of(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def _dashboard_calls(env: object, channel_id: int) -> int:
    path = f"/channels/{channel_id}/messages"
    return sum(1 for r in env.http_requests  # type: ignore[attr-defined]
               if r.path.startswith(path) and r.method in ("POST", "PATCH", "DELETE"))  # fmt: skip


async def _run(workdir: Path, minutes: float) -> LiveFigures:
    import simcord

    from bot.interfaces.discord.client import HomelabBot
    from bot.interfaces.runtime import Runtime
    from bot.services.core import CONSOLE_ACTOR
    from bot.services.dashboards import DashboardService
    from bot.settings import BotSettings
    from tests.harness.exporter import Exporter
    from tests.harness.services import Alertmanager, Prometheus, ServiceGroup, static_job

    services = ServiceGroup(workdir / "services")
    try:
        exporter = services(Exporter, hostname="nas")
        prom = services(Prometheus, scrape_configs=[static_job("homelab-exporter",
                                                               exporter.address)])  # fmt: skip
        am = services(Alertmanager)
        prom.wait_for('rate(node_cpu_seconds_total{mode="user"}[5m])', bool)
        settings = BotSettings(
            database_path=workdir / "bot.sqlite3",
            image_dir=workdir / "images",
            prometheus={"url": prom.url, "scrape_interval_seconds": 1.0},
            alerts={"alertmanager_url": am.url},
            web={"port": 0},
        )
        rt = await Runtime.build(settings)
        try:
            worker = await rt.charts.submit(os.getpid)
            service = rt.core.feature(DashboardService)
            assert service is not None
            async with simcord.run(HomelabBot(settings, rt.core)) as env:
                channel = env.create_guild().create_text_channel("dashboards")
                rt.core.gate.limiter.rules.clear()  # one operator making twenty at once
                for kind, target in MIX:
                    made = await rt.core.execute(CONSOLE_ACTOR, "dashboard create",
                                                 {"type": kind, "target": target,
                                                  "channel": str(channel.id)})
                    if "is live" not in made.text:
                        raise RuntimeError(f"dashboard create {kind}: {made.text}")  # fmt: skip
                before = _dashboard_calls(env, channel.id)
                edits0, skipped0 = service.edits, service.skipped
                cpu0 = time.process_time() + _cpu_of(worker)
                wall0 = time.perf_counter()
                most = 0
                last = before
                for _ in range(int(minutes * 60 / TICK)):
                    await env.advance_time(TICK)
                    now = _dashboard_calls(env, channel.id)
                    most = max(most, now - last)
                    last = now
                cpu = time.process_time() + _cpu_of(worker) - cpu0
                return LiveFigures(len(MIX), minutes, last - before, most,
                                   service.edits - edits0, service.skipped - skipped0, cpu,
                                   time.perf_counter() - wall0)  # fmt: skip
        finally:
            await rt.close()
    finally:
        services.stop_all()


def live_dashboards(minutes: float = MINUTES) -> LiveFigures:
    """Twenty dashboards for `minutes` of simcord's clock."""
    with tempfile.TemporaryDirectory(prefix="live-dashboards-") as tmp:
        return asyncio.run(_run(Path(tmp), minutes))


def format_live(f: LiveFigures) -> str:
    """The figures, with the per-channel budget they must stay under."""
    return "\n".join([
        f"{f.dashboards} live dashboards in one channel (10 fleet, 5 host, 3 alerts, 2 welcome),"
        f" {f.minutes:g} min of simcord's clock ({f.wall_seconds:.0f} s of wall time):",
        f"  Discord requests {f.requests} = {f.per_minute:.1f} per minute; most in one 5 s tick:"
        f" {f.most_in_5s} (budget 2 per channel per tick)",
        f"  refreshes that edited {f.refreshes}, unchanged and skipped {f.skipped}",
        f"  CPU {f.cpu_seconds:.1f} s (bot + chart worker) = {f.cpu_per_refresh * 1000:.0f} ms"
        " per refresh",
    ])
