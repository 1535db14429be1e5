"""How a chart's time range becomes a query: the step, the aligned window, the source.

The step is max(scrape interval, range / plot width in pixels), whole seconds, so no query
asks for more points than the chart can draw, nor for points finer than the data. The window
is aligned to the step (its end is the first step boundary after now), so the same
chart asked twice within one step is the same query, and a cache can answer the second.

Example::

    plan = plan_range(now=1700000123.0, range_seconds=3600, scrape_interval=15, width_px=1200)
    plan.step, plan.start, plan.end      # (15.0, 1699996530.0, 1700000130.0)
    choose_source(2592000, retention_seconds=1296000, influx=True, prefer="prometheus")
    # SourceChoice(source="influxdb", clipped_to=None)
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Literal

from bot.domain.charts import InfluxQuery

log = logging.getLogger(__name__)

SourceName = Literal["prometheus", "influxdb"]


@dataclass(frozen=True, slots=True)
class RangePlan:
    """One range query's window [start, end] and its step, all in seconds, step-aligned."""

    start: float
    end: float
    step: float


def chart_step(range_seconds: float, scrape_interval: float, width_px: int) -> float:
    """max(scrape interval, range / plot width), rounded up to whole seconds (at least 1)."""
    if range_seconds <= 0 or scrape_interval <= 0 or width_px <= 0:
        raise ValueError(
            f"range, scrape interval and width must be > 0: {range_seconds}, "
            f"{scrape_interval}, {width_px}"
        )
    return float(max(1, math.ceil(max(scrape_interval, range_seconds / width_px))))


def plan_range(
    now: float, range_seconds: float, scrape_interval: float = 15.0, width_px: int = 1200
) -> RangePlan:
    """The step and the window ending at the first step boundary after `now`.

    Every `now` within one step gives the same plan, so it can key a cache. The end is in
    the future by less than a step, not in the past: the latest data is always in the window
    (a 30 d chart would otherwise hide up to its 36-minute step of the newest points).
    """
    step = chart_step(range_seconds, scrape_interval, width_px)
    end = (math.floor(now / step) + 1) * step
    start = end - math.ceil(range_seconds / step) * step
    return RangePlan(float(start), float(end), step)


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """Where a chart's data comes from; `clipped_to` is the range kept when it had to shrink."""

    source: SourceName
    clipped_to: float | None = None


def choose_source(
    range_seconds: float,
    retention_seconds: float,
    influx: bool,
    prefer: SourceName = "prometheus",
) -> SourceChoice:
    """The source for a range: the chart's own, InfluxDB past Prometheus's retention.

    `influx` says whether InfluxDB can serve this chart (configured, and the chart has
    InfluxQL). Without it a range past the retention is clipped to the retention.
    """
    if influx and (prefer == "influxdb" or range_seconds > retention_seconds):
        return SourceChoice("influxdb")
    if range_seconds > retention_seconds:
        return SourceChoice("prometheus", clipped_to=retention_seconds)
    return SourceChoice("prometheus")


def influxql(query: InfluxQuery, start: float, end: float, step: float, host: str = "") -> str:
    """The InfluxQL of `query` with `$timeFilter`, `$interval` and `$host` filled in.

    `$host` is Grafana's convention, a regex body (`"host" =~ /^$host$/`): the host escaped,
    or `.+` for every host. Without a GROUP BY, `GROUP BY time($interval), "<legend_tag>"
    fill(none)` is appended, so buckets are `step` long and empty ones are left out (gaps).
    """
    text = query.select.strip().rstrip(";")
    if not re.search(r"\bGROUP\s+BY\b", text, re.I):
        tag = query.legend_tag.replace('"', '\\"')
        text += f' GROUP BY time($interval), "{tag}" fill(none)'
    pattern = re.escape(host).replace("/", r"\/") if host else ".+"
    return (
        text.replace("$timeFilter", f"time >= {int(start)}s AND time <= {int(end)}s")
        .replace("$interval", f"{max(1, math.ceil(step))}s")
        .replace("$host", pattern)
    )
