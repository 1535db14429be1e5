"""The fleet dashboard: every host up or down with its vital signs, and a 2x2 chart grid
(CPU, memory, network, load across the fleet).

Example::

    data = FleetData(hosts=(HostStatus(target, up=True, cpu_busy=12.0),), firing=0,
                     charts=(cpu_chart, memory_chart, network_chart, load_chart))
    FLEET.build(Params("fleet"), data, View(dashboard_id=1, images={GRID_PNG: png}))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from bot.domain.charts import Chart, ChartGrid
from bot.domain.dashboards.model import DashboardType, Params, View
from bot.domain.dashboards.panels import chart_embed, controls, images
from bot.domain.messages import Message
from bot.domain.status import HostStatus, fleet_message
from bot.domain.text import fit_lines

log = logging.getLogger(__name__)

GRID_PNG = "fleet.png"
# The named charts of the grid, in reading order (bot.domain.charts.CHARTS).
GRID_CHARTS = ("cpu", "memory", "network", "load")


@dataclass(frozen=True, slots=True)
class FleetData:
    """Every host's vital signs, the firing alert count, and the grid's charts."""

    hosts: tuple[HostStatus, ...]
    firing: int = 0
    charts: tuple[Chart, ...] = ()


def fleet_charts(params: Params, data: FleetData) -> dict[str, ChartGrid]:
    """The 2x2 grid, when there are charts to draw."""
    if not data.charts:
        return {}
    small = tuple(replace(c, width=600, height=400) for c in data.charts)
    return {GRID_PNG: ChartGrid(small, columns=2, width=1200, height=800)}


def fleet_dashboard(params: Params, data: FleetData, view: View) -> Message:
    """The fleet summary (the /status lines), the grid, and the controls."""
    summary = fleet_message(list(data.hosts), data.firing).embeds[0]
    # One message, edited in place: the host lines are cut to the description's limit
    # (/status splits them over several messages instead).
    lines = fit_lines(summary.description.split("\n"), 4096)
    embeds = [replace(summary, description=lines, footer=f"charts: last {params.range}")]
    if GRID_PNG in view.images:
        embeds.append(chart_embed(f"Fleet · last {params.range}", GRID_PNG))
    return Message(
        embeds=tuple(embeds),
        images=images(view, {GRID_PNG: f"CPU, memory, network and load, last {params.range}"}),
        rows=controls(view, params, charts=GRID_CHARTS),
    )


FLEET = DashboardType(
    "fleet",
    "every host up or down with its vital signs, and CPU, memory, network and load charts",
    fleet_charts,
    fleet_dashboard,
)
