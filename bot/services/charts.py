"""The charts feature: /chart (named charts), /query (any PromQL), and the range buttons.

A chart is drawn in the renderer's process pool; the data comes from the chart data service
(Prometheus, or InfluxDB for long ranges). The buttons under a chart carry what it shows in
their custom id, so they work after a restart and redraw in place.

Example::

    charts = ChartService(data, renderer, prometheus, hosts=status_service)
    await core.execute(CONSOLE_ACTOR, "chart", {"chart": "cpu", "host": "nas", "range": "1h"})
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from bot.domain.catalogue import charts as part
from bot.domain.charts import CHARTS, RANGES, Chart, ChartDef
from bot.domain.messages import (
    Button,
    ButtonStyle,
    Embed,
    Image,
    Message,
    Row,
)
from bot.domain.permissions import Actor
from bot.domain.status import Target, resolve
from bot.domain.text import escape
from bot.services.chart_data import ChartSeries
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import ChartRenderer, MetricsSource, MetricsUnavailable, RangeSource

log = logging.getLogger(__name__)

RANGE_SECONDS = dict(RANGES)
# /query's table: at most this many rows, each label set shortened to this.
TABLE_ROWS = 50
PLOT_WIDTH_PX = 1200
MIN_STEP = 15.0


class ChartSource(Protocol):
    """Where a named chart's series come from (ChartData: Prometheus, or InfluxDB)."""

    async def series(
        self, chart: ChartDef, host: Target | None, range_seconds: float, now: float
    ) -> ChartSeries:
        """The chart's series over the last `range_seconds` for one host (None: every host)."""
        ...


class HostDirectory(Protocol):
    """The hosts Prometheus scrapes (StatusService)."""

    async def targets(self) -> list[tuple[Target, bool]]:
        """Every host and whether it is up."""
        ...


class ChartService:
    """Handlers of the charts part of the catalogue."""

    def __init__(
        self,
        data: ChartSource,
        renderer: ChartRenderer,
        prometheus: MetricsSource,
        ranges: RangeSource,
        hosts: HostDirectory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = data
        self.renderer = renderer
        self.prometheus = prometheus
        self.ranges = ranges
        self.hosts = hosts
        self.clock = clock

    def commands(self) -> Mapping[str, CommandHandler]:
        """Catalogue command name -> handler."""
        return {"chart": self.chart, "query": self.query}

    def components(self) -> Mapping[str, ComponentHandler]:
        """Catalogue component route -> handler."""
        return {"chart.range": self._click, "chart.refresh": self._click}

    async def host_names(self) -> list[str]:
        """Every host's name, for autocomplete."""
        return sorted({t.name for t, _ in await self.hosts.targets()})

    async def chart(
        self, actor: Actor, chart: str, host: str | None = None, range: str = "1h"
    ) -> Message:
        """A named chart over `range`, for one host or all."""
        spec = CHARTS.get(chart.strip().lower())
        if spec is None:
            names = ", ".join(sorted(CHARTS)) or "(none defined)"
            return Message(
                text=f"There is no chart {chart!r}; the charts are: {names}.",
                ephemeral=True,
                outcome="not_found",
            )
        target: Target | None = None
        shown_host = ""
        if host:
            try:
                targets = [t for t, _ in await self.hosts.targets()]
            except MetricsUnavailable as exc:
                return _unavailable(exc)
            found = resolve(targets, host)
            if found.target is None:
                known = ", ".join(sorted({t.name for t in targets})[:20]) or "none yet"
                why = "matches several hosts" if found.candidates else "is not a host I know"
                return Message(
                    text=f"{host!r} {why}; hosts: {known}.", ephemeral=True, outcome="not_found"
                )
            target, shown_host = found.target, found.target.name
        seconds = RANGE_SECONDS.get(range, 3600.0)
        now = self.clock()
        try:
            got = await self.data.series(spec, target, seconds, now)
        except MetricsUnavailable as exc:
            return _unavailable(exc)
        source, step = got.source, got.step
        # Stacked for one host only: across hosts the layers would add up hosts' shares.
        title = f"{spec.title} · {shown_host or 'all hosts'} · last {range}"
        drawn = chart_of(spec, got, title, stacked=spec.stacked and target is not None)
        png = await self.renderer.chart(drawn)
        filename = f"chart-{spec.name}-{_slug(shown_host or 'all')}-{range}.png"
        return Message(
            embeds=(
                Embed(
                    title=escape(drawn.title),
                    image=filename,
                    footer=f"{source} · step {step:g} s" + (f" · {got.note}" if got.note else ""),
                ),
            ),
            images=(Image(filename, png, description=drawn.title),),
            rows=_range_rows(spec.name, shown_host, range),
        )

    async def _click(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """A range or refresh button: `<chart>|<host>|<range>`."""
        name, _, rest = arg.partition("|")
        host, _, range_ = rest.partition("|")
        if range_ not in RANGE_SECONDS:
            return Message(text="This button is not valid.", ephemeral=True, outcome="usage")
        return await self.chart(actor, name, host or None, range_)

    async def query(self, actor: Actor, promql: str, range: str | None = None) -> Message:
        """Any PromQL: the value now as a table, or a chart over `range`."""
        try:
            if not range:
                samples = await self.prometheus.query(promql)
                return _table(promql, [(s.labels, s.value) for s in samples])
            seconds = RANGE_SECONDS[range]
            now = self.clock()
            step = max(MIN_STEP, seconds / PLOT_WIDTH_PX)
            series = await self.ranges.query_range(promql, now - seconds, now, step)
        except MetricsUnavailable as exc:
            if exc.reason.startswith(("HTTP 400", "HTTP 422")):
                return Message(
                    text=f"Prometheus refused the query: {exc.reason.split(' ', 2)[-1]}",
                    ephemeral=True,
                    outcome="usage",
                )
            return _unavailable(exc)
        drawn = Chart(
            title=promql if len(promql) <= 120 else promql[:117] + "...",
            series=tuple(series),
            start=now - seconds,
            end=now,
            source=getattr(self.prometheus, "source", "Prometheus"),
            step=step,
        )
        png = await self.renderer.chart(drawn)
        table = _table(promql, [(s.labels, s.points[-1][1]) for s in series if s.points])
        return Message(
            embeds=(*table.embeds[:1], Embed(title=f"last {range}", image="query.png")),
            images=(Image("query.png", png, description=drawn.title),),
        )


def chart_of(spec: ChartDef, got: ChartSeries, title: str, stacked: bool = False) -> Chart:
    """A named chart's series as the chart drawn: one place for /chart and the dashboards."""
    return Chart(
        title=title,
        series=got.series,
        start=got.start,
        end=got.end,
        unit=spec.unit,
        source=got.source,
        step=got.step,
        minimum=spec.minimum,
        maximum=spec.maximum,
        stacked=stacked,
    )


def _range_rows(chart: str, host: str, current: str) -> tuple[Row, ...]:
    """Two rows: the ranges (the current one highlighted), and Refresh."""
    buttons: list[Button] = []
    for name, _ in RANGES:
        arg = f"{chart}|{host}|{name}"
        buttons.append(
            Button(
                part.CHART_RANGE.custom_id(arg),
                name,
                part.CHART_RANGE.permission,
                ButtonStyle.PRIMARY if name == current else ButtonStyle.SECONDARY,
                disabled=name == current,
            )
        )
    refresh = Button(
        part.CHART_REFRESH.custom_id(f"{chart}|{host}|{current}"),
        "Refresh",
        part.CHART_REFRESH.permission,
    )
    return (tuple(buttons[:5]), (*buttons[5:], refresh))


def _table(promql: str, rows: Sequence[tuple[Mapping[str, str], float]]) -> Message:
    """An instant result as lines `labels  value`, within Discord's limits (the splitter)."""
    if not rows:
        return Message(embeds=(Embed(title="No series", description=f"`{escape(promql)}`"),))
    lines = []
    for labels, value in sorted(rows, key=lambda r: -r[1])[:TABLE_ROWS]:
        name = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(no labels)"
        lines.append(f"{escape(name)}  **{value:.6g}**")
    more = f"\n… and {len(rows) - TABLE_ROWS} more" if len(rows) > TABLE_ROWS else ""
    return Message(
        embeds=(
            Embed(
                title=f"{len(rows)} series",
                description="\n".join(lines) + more,
                footer=promql[:2000],
            ),
        )
    )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40]


def _unavailable(exc: MetricsUnavailable) -> Message:
    return Message(text=f"{exc}", ephemeral=True, outcome="unavailable")
