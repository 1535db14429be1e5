"""What a chart shows, independent of how it is drawn: series, charts, the alert graph's spec,
and the catalogue of named charts (`CHARTS`, grown by the charts work).

The renderer (`bot.adapters.charts`) turns these into PNG bytes; the alert graph, `/chart`,
the live dashboards and the reports all describe their charts with these values.

Example::

    graph = AlertGraph(
        title="HostHighCpu nas:9101",
        series=(Series({"instance": "nas:9101"}, ((1700000000.0, 0.93), (1700000060.0, 0.95))),),
        start=1699996400.0, end=1700000060.0, threshold=0.9, firing_since=1700000000.0,
    )
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Series:
    """One series: its labels and (unix seconds, value) points in time order."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]
    name: str = ""  # the legend's text; empty: named from the labels (instance, host, ...)


@dataclass(frozen=True, slots=True)
class AlertGraph:
    """An alert's expression over a window: the threshold line and the firing window shaded.

    `firing_until` is None while the alert still fires (shaded to `end`).
    """

    title: str
    series: tuple[Series, ...]
    start: float
    end: float
    threshold: float | None = None
    firing_since: float | None = None
    firing_until: float | None = None
    unit: str = ""  # "ratio", "seconds", "celsius", "bytes", ... ("" plain numbers)
    expr: str = ""


# Ranges offered by /chart, as (name, seconds).
RANGES: tuple[tuple[str, float], ...] = (
    ("15m", 900.0), ("1h", 3600.0), ("6h", 21600.0), ("24h", 86400.0),
    ("7d", 604800.0), ("30d", 2592000.0),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PromQuery:
    """One PromQL expression of a named chart; `{host}` in it is the host's label matcher
    (e.g. `instance="nas:9100"`), `legend` names each series from its labels (`{device}`)."""

    expr: str
    legend: str = "{instance}"


@dataclass(frozen=True, slots=True)
class InfluxQuery:
    """The same data in InfluxDB (Telegraf's schema): an InfluxQL SELECT with `$timeFilter`,
    `$interval` and `$host` placeholders, and the tag that names each series."""

    select: str
    legend_tag: str = "host"


@dataclass(frozen=True, slots=True)
class ChartDef:
    """A named chart: one definition for /chart, the alert graph and the dashboards."""

    name: str
    title: str
    unit: str  # "ratio", "bytes", "bits_per_second", "bytes_per_second", "seconds", "celsius", ""
    prom: tuple[PromQuery, ...]
    influx: tuple[InfluxQuery, ...] = ()
    help: str = ""
    stacked: bool = False
    minimum: float | None = None  # a fixed floor for the y axis (0 for ratios), else automatic
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart ready to draw: its series over [start, end] and what to mark on it.

    `source` names where the data came from ("Prometheus at http://...", "InfluxDB ..."),
    printed small on the image. `windows` are shaded spans (start, end), e.g. alert windows.
    """

    title: str
    series: tuple[Series, ...]
    start: float
    end: float
    unit: str = ""
    thresholds: tuple[float, ...] = ()
    windows: tuple[tuple[float, float], ...] = ()
    source: str = ""
    step: float = 0.0  # seconds between points: a gap longer than ~2 steps is drawn as a gap
    minimum: float | None = None
    maximum: float | None = None
    stacked: bool = False  # series drawn as stacked areas (their sum is the top line)
    width: int = 1200  # pixels: Discord shows 1200x600 whole in an embed, and readably on a phone
    height: int = 600


# The named charts; the charts work fills this from exporter/schema.py's names.
CHARTS: dict[str, ChartDef] = {}
