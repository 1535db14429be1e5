"""The docs' report example: a daily report of three hosts from fixed data, drawn by the bot's
renderer and templates, written as the message text, the chart PNGs and the HTML file.

Example::

    python -m bot.tools.report_gallery docs/images/reports    # what `make docs` runs
"""

from __future__ import annotations

import logging
import math
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.charts import render_chart
from bot.adapters.templates import ReportTemplates
from bot.domain.charts import CHARTS, Chart, Series
from bot.domain.messages import Message
from bot.domain.reports.model import (
    ChartImage,
    DiskForecast,
    Episode,
    HostReport,
    ReportData,
    period_ending,
    summarise_alerts,
    usage_of,
)
from bot.services.reports import CHART_KINDS, report_message
from bot.tools.gallery import gallery_main

log = logging.getLogger(__name__)

END = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
STEP = 300.0
SEED = 11
HOSTS = ("nas", "pi", "router")


def _curve(host: str, chart: str, rng: random.Random, start: float) -> Series:
    """A day of one resource for one host: a daily swing, noise, a backup at 02:00 on nas."""
    base = {"cpu": 0.18, "memory": 0.55, "disk": 0.62}[chart] + 0.08 * HOSTS.index(host)
    points = []
    for i in range(int(86400 / STEP)):
        t = start + i * STEP
        hour = (t % 86400) / 3600
        v = base + 0.06 * math.sin((hour - 8) / 24 * 2 * math.pi) + rng.gauss(0, 0.015)
        if chart == "cpu" and host == "nas" and 2 <= hour < 3:
            v += 0.55
        if chart == "disk":
            v = base + 0.02 * i / (86400 / STEP)
        points.append((t, min(1.0, max(0.0, v))))
    return Series({"host": host}, tuple(points), name=host)


def example_data() -> ReportData:
    """The fixed example report (three hosts, a filling disk, a few alerts)."""
    rng = random.Random(SEED)
    period = period_ending("daily", END)
    start, end = period.start.timestamp(), period.end.timestamp()
    series = {c: tuple(_curve(h, c, rng, start) for h in HOSTS) for c, _ in CHART_KINDS}
    charts = []
    for chart, title in CHART_KINDS:
        spec = CHARTS[chart]
        drawn = Chart(f"{title} · all hosts · daily", series[chart], start, end, unit=spec.unit,
                      minimum=spec.minimum, maximum=spec.maximum, step=STEP,
                      source="example data (bot/tools/report_gallery.py)")  # fmt: skip
        charts.append(ChartImage(f"report-daily-{chart}.png", drawn.title, render_chart(drawn)))
    hosts = tuple(
        HostReport(h, f"{h}:9100", (1.0, 0.9965, 1.0)[i],
                   *(usage_of(series[c][i].points) for c, _ in CHART_KINDS))
        for i, h in enumerate(HOSTS)
    )  # fmt: skip
    gib = 2.0**30
    disks = (
        DiskForecast("nas", "/srv/media", 412 * gib, -21.5 * gib),
        DiskForecast("nas", "/", 38 * gib, -0.2 * gib),
        DiskForecast("pi", "/", 9.5 * gib, 0.0),
        DiskForecast("router", "/", 1.2 * gib, -0.35 * gib),
    )
    h = 3600.0
    episodes = [
        Episode("HostHighCpu", "warning", "nas", start + 2 * h, start + 2.9 * h),
        Episode("DiskWillFillIn24h", "critical", "router", start + 5 * h, start + 7.5 * h),
        Episode("HostHighCpu", "warning", "nas", start + 14 * h, start + 14.2 * h),
        Episode("TargetDown", "critical", "pi", start + 16 * h, start + 16.1 * h),
        Episode("HostHighMemory", "warning", "router", start + 22 * h, None),
    ]
    return ReportData(period, "", hosts, disks, summarise_alerts(episodes), tuple(charts),
                      ("example data (bot/tools/report_gallery.py)",))  # fmt: skip


def example_message() -> Message:
    """The example report as the Discord message the bot would post."""
    return report_message(example_data(), ReportTemplates())


def write_gallery(out: Path) -> list[Path]:
    """Write the example's images, HTML file and message text into `out`; their paths."""
    from bot.interfaces.console.face import format_message

    out.mkdir(parents=True, exist_ok=True)
    msg = example_message()
    text = format_message(msg, out, now=END.timestamp())
    (out / "report-daily.txt").write_text(text + "\n", encoding="utf-8")
    return [*sorted(out / i.filename for i in msg.images), out / "report-daily.txt"]


def main(argv: list[str] | None = None) -> int:
    """Write the example report into the directory given (docs/images/reports by default)."""
    return gallery_main("bot.tools.report_gallery", "docs/images/reports", write_gallery, argv)


if __name__ == "__main__":
    sys.exit(main())
