"""The docs' dashboard images: the fleet, host, alerts and project dashboards drawn by the
bot's own factory and renderer from fixed example data (the chart gallery's series, a fixed
alert history, a fixed project log), so the images are byte-stable and a test tells when they
are stale.

Example::

    python -m bot.tools.dashboard_gallery docs/images/dashboards   # what `make docs` runs
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

from bot.adapters.charts import render_chart, render_grid
from bot.domain.charts import Chart, ChartGrid
from bot.domain.dashboards.alerts import AlertsData, HistoryLine
from bot.domain.dashboards.fleet import GRID_CHARTS as FLEET
from bot.domain.dashboards.host import GRID_CHARTS as HOST
from bot.domain.dashboards.model import Params
from bot.domain.dashboards.types import REGISTRY
from bot.domain.projects import model
from bot.domain.projects.dashboard import ProjectData
from bot.domain.projects.series import DAY
from bot.tools.chart_gallery import END, example_charts
from bot.tools.gallery import gallery_main

log = logging.getLogger(__name__)

HISTORY = tuple(
    HistoryLine(name, sev, "nas", END - hours * 3600, END - hours * 3600 + 900 if done else None)
    for name, sev, hours, done in (
        ("HostDiskWillFillIn24h", "warning", 20.5, True), ("HostHighCpu", "warning", 14.2, True),
        ("HostHighCpu", "warning", 13.8, True), ("HostDown", "critical", 9.1, True),
        ("HostHighCpu", "warning", 3.4, True), ("HostDiskFull", "critical", 0.6, False),
    )
)  # fmt: skip


def example_project() -> ProjectData:
    """"NAS upgrade": twelve tasks over three weeks, due in a week; one blocked for four days,
    one reopened; the log made by the domain's own functions, as the bot makes it."""
    begun = END - 20 * DAY
    project, event = model.new_project(1, "NAS upgrade", description="Disks, fans, a new pool",
                                       due=END + 7 * DAY, actor="ann", at=begun)  # fmt: skip
    events = [event]
    tasks: dict[int, model.Task] = {}
    titles = ("Order disks", "Burn-in disks", "Swap fans", "Flash BIOS", "Build pool",
              "Migrate shares", "Scrub pool", "Move backups", "Update docs", "Test restore",
              "Retire old disks", "Tune ARC")  # fmt: skip
    for i, title in enumerate(titles, start=1):
        at = begun + (0.1 if i <= 9 else 6.3) * DAY + i * 60  # three added in the second week
        tasks[i], event = model.new_task(i, 1, title, actor="ann", at=at)
        events.append(event)
    # (day, task, status): started and finished over the weeks, #4 blocked, #6 reopened.
    plan = [
        (1, 1, "doing"), (2, 1, "done"), (2, 2, "doing"), (3, 3, "todo"), (4, 2, "done"),
        (4, 3, "doing"), (5, 4, "blocked"), (6, 3, "done"), (7, 5, "doing"), (9, 4, "doing"),
        (9, 5, "done"), (10, 6, "doing"), (11, 6, "done"), (12, 4, "done"), (12, 7, "todo"),
        (13, 6, "doing"), (13, 7, "doing"), (14, 6, "done"), (15, 7, "done"), (15, 8, "doing"),
        (16, 10, "todo"), (17, 8, "done"), (18, 9, "doing"), (19, 10, "doing"),
    ]  # fmt: skip
    for day, tid, status in plan:
        tasks[tid], moved = model.move(tasks[tid], status, actor="ann", at=begun + day * DAY)
        assert moved is not None
        events.append(moved)
    events.sort(key=lambda e: e.at)  # the log in the order the store keeps it
    return ProjectData(project, tuple(tasks.values()), tuple(events), END)


def example_drawings() -> dict[str, Chart | ChartGrid]:
    """The dashboards' drawings by file name: the fleet and host grids, the alerts chart, and
    the project dashboard's burndown, cumulative flow and throughput."""
    charts = example_charts()

    def grid(names: tuple[str, ...], title: str) -> ChartGrid:
        panels = tuple(replace(charts[f"{n}.png"], title=f"{charts[f'{n}.png'].title}{title}",
                               width=600, height=400) for n in names)  # fmt: skip
        return ChartGrid(panels, columns=2, width=1200, height=800)

    alerts = REGISTRY["alerts"].charts(Params("alerts"), AlertsData(history=HISTORY, now=END))
    project = REGISTRY["project"].charts(Params("project", "NAS upgrade"), example_project())
    return {
        "fleet.png": grid(FLEET, ""),
        "host.png": grid(HOST, ""),
        **alerts,
        **{f"project-{name}": chart for name, chart in project.items()},
    }


def write_gallery(out: Path) -> list[Path]:
    """Render every example drawing into `out`; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, drawing in example_drawings().items():
        path = out / name
        png = render_grid(drawing) if isinstance(drawing, ChartGrid) else render_chart(drawing)
        path.write_bytes(png)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the gallery into the directory given (docs/images/dashboards by default)."""
    return gallery_main(
        "bot.tools.dashboard_gallery", "docs/images/dashboards", write_gallery, argv
    )


if __name__ == "__main__":
    sys.exit(main())
