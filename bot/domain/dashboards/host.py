"""The host dashboard: one host's vital signs, mounts and temperatures, its firing alerts,
and its CPU, memory, disk and network charts as a 2x2 grid.

Example::

    HOST.build(Params("host", "nas"), HostData(status, charts, alerts), View(images=...))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from bot.domain.charts import Chart, ChartGrid
from bot.domain.dashboards.alerts import AlertLine, alert_lines
from bot.domain.dashboards.model import DashboardType, Params, View
from bot.domain.dashboards.panels import chart_embed, controls, images
from bot.domain.messages import Field, Message
from bot.domain.status import HostStatus, host_message

log = logging.getLogger(__name__)

GRID_PNG = "host.png"
GRID_CHARTS = ("cpu", "memory", "disk", "network")


@dataclass(frozen=True, slots=True)
class HostData:
    """One host's detailed status, its charts and the alerts firing for it."""

    status: HostStatus
    charts: tuple[Chart, ...] = ()
    alerts: tuple[AlertLine, ...] = ()


def host_charts(params: Params, data: HostData) -> dict[str, ChartGrid]:
    """The host's 2x2 grid."""
    if not data.charts:
        return {}
    small = tuple(replace(c, width=600, height=400) for c in data.charts)
    return {GRID_PNG: ChartGrid(small, columns=2, width=1200, height=800)}


def host_dashboard(params: Params, data: HostData, view: View) -> Message:
    """The /status detail of the host, its firing alerts, the grid and the controls."""
    detail = host_message(data.status).embeds[0]
    fields = list(detail.fields)
    if data.alerts:
        fields.append(Field(f"Firing ({len(data.alerts)})", alert_lines(data.alerts, 1024)))
    embeds = [replace(detail, fields=tuple(fields[:25]), footer=f"charts: last {params.range}")]
    if GRID_PNG in view.images:
        embeds.append(chart_embed(f"{data.status.target.name} · last {params.range}", GRID_PNG))
    return Message(
        embeds=tuple(embeds),
        images=images(view, {GRID_PNG: f"CPU, memory, disk and network, last {params.range}"}),
        rows=controls(view, params, hosts=True),
    )


HOST = DashboardType(
    "host",
    "one host: vital signs, CPU, memory, disk and network charts, its firing alerts",
    host_charts,
    host_dashboard,
    subject="host",
)
