"""What a chart shows, independent of how it is drawn: series, and the alert graph's spec.

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
