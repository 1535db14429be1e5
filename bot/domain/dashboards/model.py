"""What every dashboard type is made of: its parameters, the context it is drawn in, and the
type itself (what to draw, how to build the message). The registry holds the types.

Example::

    params = Params("host", target="nas", range="6h")
    kind = REGISTRY["host"]
    charts = kind.charts(params, data)                 # {"host.png": ChartGrid(...)}
    msg = kind.build(params, data, View(dashboard_id=3, images={"host.png": png}))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.catalogue.dashboards import (
    DASHBOARD_RANGES,
    DEFAULT_INTERVAL_SECONDS,
    MIN_INTERVAL_SECONDS,
)
from bot.domain.charts import RANGES, Chart, ChartGrid
from bot.domain.messages import Message

log = logging.getLogger(__name__)

__all__ = ["DASHBOARD_RANGES", "DEFAULT_INTERVAL_SECONDS", "MIN_INTERVAL_SECONDS"]

RANGE_NAMES = tuple(name for name, _ in RANGES)
RANGE_SECONDS = dict(RANGES)


@dataclass(frozen=True, slots=True)
class Params:
    """What a dashboard shows: its type, its subject (a host, a project; "" for none) and its
    chart range. Stored as JSON with the dashboard."""

    type: str
    target: str = ""
    range: str = "1h"

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps({"type": self.type, "target": self.target, "range": self.range})

    @classmethod
    def from_json(cls, text: str) -> Params:
        """Back from the stored form."""
        d = json.loads(text)
        return cls(str(d["type"]), str(d.get("target", "")), str(d.get("range", "1h")))

    @property
    def range_seconds(self) -> float:
        """The chart range in seconds (an unknown range falls back to the last hour)."""
        return RANGE_SECONDS.get(self.range, 3600.0)


@dataclass(frozen=True, slots=True)
class View:
    """Where a dashboard is drawn: its live id (None for a one-off `show`), the rendered
    images by filename, and the hosts the host select offers."""

    dashboard_id: int | None = None
    images: Mapping[str, bytes] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()


Drawing = Chart | ChartGrid


@dataclass(frozen=True, slots=True)
class DashboardType:
    """One kind of dashboard: `charts(params, data)` says what to draw (filename -> chart or
    grid); `build(params, data, view)` makes the message, given the images rendered.

    `subject` is what the target names: "host", "project", or "" (no target)."""

    name: str
    description: str
    charts: Callable[[Params, Any], Mapping[str, Drawing]]
    build: Callable[[Params, Any, View], Message]
    subject: str = ""


class Registry(Mapping[str, DashboardType]):
    """Dashboard types by name; a new type is one more argument, nothing else changes."""

    def __init__(self, *types: DashboardType) -> None:
        self._types: dict[str, DashboardType] = {}
        for t in types:
            if t.name in self._types:
                raise ValueError(f"two dashboard types are called {t.name!r}")
            self._types[t.name] = t

    def __getitem__(self, name: str) -> DashboardType:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)
