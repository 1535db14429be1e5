"""The graph of one alert: its expression over the last hour, the threshold, the firing window.

The alert's expression comes from its generatorURL (`g0.expr`); a top-level comparison is
split so the measured side is drawn as lines and the compared side as the threshold.

Example::

    grapher = AlertGrapher(prometheus, chart_pool, window=3600)
    image = await grapher.image(alert, time.time())     # Image("alert-<fp>.png", b"\\x89PNG...")
"""

from __future__ import annotations

import logging

from bot.domain.alerts.expr import split_comparison
from bot.domain.alerts.model import Alert, expr_of
from bot.domain.charts import AlertGraph, Series
from bot.domain.messages import Image
from bot.services.ports import ChartRenderer, RangeSource

log = logging.getLogger(__name__)

# At most this many points per series: plenty for a 1000 px wide chart.
POINTS = 360
MIN_STEP = 15.0


class AlertGrapher:
    """Range queries through `source`, PNGs through `charts` (a process pool)."""

    def __init__(self, source: RangeSource, charts: ChartRenderer, window: float = 3600.0) -> None:
        self.source = source
        self.charts = charts
        self.window = window

    async def graph(self, alert: Alert, now: float) -> AlertGraph | None:
        """What the alert's chart shows; None when the alert carries no expression."""
        expr = expr_of(alert.generator_url)
        if not expr:
            return None
        started = alert.starts()
        ended = alert.ends() if alert.status == "resolved" else None
        end = min(now, (ended or now) + self.window / 6)
        start = min(end - self.window, (started or end) - self.window / 6)
        step = max(MIN_STEP, (end - start) / POINTS)
        comparison = split_comparison(expr)
        measured = comparison.lhs if comparison else expr
        series = await self.source.query_range(measured, start, end, step)
        mine = [s for s in series if _same_target(s, alert)] or series
        threshold = None
        if comparison is not None:
            limits = await self.source.query_range(comparison.rhs, end - 5 * step, end, step)
            matched = [s for s in limits if _same_target(s, alert)] or limits
            points = [p for s in matched for p in s.points]
            if points:
                threshold = points[-1][1]
        return AlertGraph(
            title=f"{alert.name} {alert.host}",
            series=tuple(mine),
            start=start,
            end=end,
            threshold=threshold,
            firing_since=started,
            firing_until=ended,
            unit=_unit(alert, measured),
            expr=measured,
        )

    async def image(self, alert: Alert, now: float) -> Image | None:
        """The PNG of the alert's graph, or None when there is nothing to draw."""
        graph = await self.graph(alert, now)
        if graph is None:
            return None
        png = await self.charts.alert_graph(graph)
        return Image(
            f"alert-{alert.fingerprint}.png",
            png,
            description=f"{alert.name} on {alert.host}: {graph.expr}"[:1024],
        )


def _same_target(s: Series, alert: Alert) -> bool:
    """Whether series `s` is about the alert's target (instance, and mountpoint/device)."""
    keys = [k for k in ("instance", "mountpoint", "device", "chip", "sensor") if k in s.labels]
    return bool(keys) and all(s.labels.get(k) == alert.labels.get(k) for k in keys)


def _unit(alert: Alert, expr: str) -> str:
    """The unit of the measured side, from recording-rule naming (`...:ratio`, `_seconds`)."""
    name = expr.strip()
    if name.endswith(":ratio") or "ratio" in alert.labels.get("unit", ""):
        return "ratio"
    if name.endswith("_seconds") or name.endswith(":seconds"):
        return "seconds"
    if name.endswith("_celsius") or name.endswith(":celsius"):
        return "celsius"
    if name.endswith("_bytes") or name.endswith(":bytes"):
        return "bytes"
    return ""
