"""The docs' dashboard images: the fleet, host and alerts dashboards drawn by the bot's own
factory and renderer from fixed example data (the chart gallery's series, a fixed alert
history), so the images are byte-stable and a test tells when they are stale.

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


def example_drawings() -> dict[str, Chart | ChartGrid]:
    """The dashboards' drawings by file name: the fleet and host grids, the alerts chart."""
    charts = example_charts()

    def grid(names: tuple[str, ...], title: str) -> ChartGrid:
        panels = tuple(replace(charts[f"{n}.png"], title=f"{charts[f'{n}.png'].title}{title}",
                               width=600, height=400) for n in names)  # fmt: skip
        return ChartGrid(panels, columns=2, width=1200, height=800)

    alerts = REGISTRY["alerts"].charts(Params("alerts"), AlertsData(history=HISTORY, now=END))
    return {"fleet.png": grid(FLEET, ""), "host.png": grid(HOST, ""), **alerts}


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
