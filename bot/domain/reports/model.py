"""What a report covers and holds: its period, per-host usage, disk forecasts and alert episodes.

Pure values and the arithmetic over them (percentiles, availability, mean time to resolve);
the service fills them from Prometheus, InfluxDB and the bot's alert history.

Example::

    period = period_ending("daily", datetime(2026, 12, 3, 8, 0, tzinfo=ZoneInfo("UTC")))
    period.key                                    # 'daily:2026-12-03T08:00+00:00'
    usage_of([(0.0, 0.2), (60.0, 0.9)])           # Usage(p95=0.865, maximum=0.9, points=2)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

log = logging.getLogger(__name__)

ReportKind = Literal["daily", "weekly"]
KINDS: tuple[ReportKind, ...] = ("daily", "weekly")
LENGTH: dict[ReportKind, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Period:
    """The span a report covers, [start, end), as aware local datetimes."""

    kind: ReportKind
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """The idempotency key of this period's scheduled report (one send per key)."""
        return f"{self.kind}:{self.end.isoformat(timespec='minutes')}"

    @property
    def seconds(self) -> float:
        """The period's length in seconds."""
        # Aware datetimes of one zone subtract as wall clocks: count real seconds instead.
        return self.end.timestamp() - self.start.timestamp()

    @property
    def label(self) -> str:
        """How the period is named to people: 'Wed 2 Dec 08:00 - Thu 3 Dec 08:00 (UTC)'."""
        fmt = "%a %d %b %H:%M"
        return f"{self.start.strftime(fmt)} - {self.end.strftime(fmt)} ({self.end.tzname()})"


def period_ending(kind: ReportKind, end: datetime) -> Period:
    """The `kind` period that ends at `end` (an aware datetime)."""
    if end.tzinfo is None:
        raise ValueError("a report period needs an aware datetime")
    # Wall-clock arithmetic in the zone: a day across a DST change is 23 or 25 hours long.
    start = (end.replace(tzinfo=None) - LENGTH[kind]).replace(tzinfo=end.tzinfo)
    return Period(kind, start, end)


@dataclass(frozen=True, slots=True)
class Usage:
    """p95 and maximum of one resource's samples over the period (ratios 0..1)."""

    p95: float
    maximum: float
    points: int


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` (0..1) percentile of `values` by linear interpolation (numpy's default)."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def usage_of(points: Iterable[tuple[float, float]]) -> Usage | None:
    """p95 and max of the finite values of `points`; None when there are none."""
    values = [v for _, v in points if math.isfinite(v)]
    if not values:
        return None
    return Usage(percentile(values, 0.95), max(values), len(values))


def summed(series: Iterable[Sequence[tuple[float, float]]]) -> tuple[tuple[float, float], ...]:
    """Several series added point by point at equal timestamps (CPU modes -> CPU busy)."""
    total: dict[float, float] = {}
    for points in series:
        for t, v in points:
            if math.isfinite(v):
                total[t] = total.get(t, 0.0) + v
    return tuple(sorted(total.items()))


def worst(series: Iterable[Sequence[tuple[float, float]]]) -> tuple[tuple[float, float], ...]:
    """The highest value at each timestamp across series (the fullest file system)."""
    top: dict[float, float] = {}
    for points in series:
        for t, v in points:
            if math.isfinite(v):
                top[t] = max(top.get(t, v), v)
    return tuple(sorted(top.items()))


@dataclass(frozen=True, slots=True)
class DiskForecast:
    """One file system's free space now and its linear trend (predict_linear)."""

    host: str
    mountpoint: str
    avail_bytes: float
    # Bytes per day the free space changes by (negative: filling up).
    trend_per_day: float

    @property
    def days_left(self) -> float | None:
        """Days until it is full at the current trend; None when it is not filling."""
        if self.trend_per_day >= 0 or self.avail_bytes <= 0:
            return 0.0 if self.avail_bytes <= 0 else None
        return self.avail_bytes / -self.trend_per_day


@dataclass(frozen=True, slots=True)
class HostReport:
    """One host over the period."""

    name: str
    instance: str
    availability: float | None  # share of scrapes that succeeded (0..1), None: no data
    cpu: Usage | None = None
    memory: Usage | None = None
    disk: Usage | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing episode from the bot's alert history."""

    name: str
    severity: str
    host: str
    starts: float
    resolved: float | None  # None: still firing (or its resolution was never seen)

    @property
    def time_to_resolve(self) -> float | None:
        """Seconds from firing to resolved, None while it fires."""
        return None if self.resolved is None else max(0.0, self.resolved - self.starts)


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """Alerts of the period: counts by severity, mean time to resolve, the noisiest ones."""

    total: int
    by_severity: tuple[tuple[str, int], ...]
    mttr_seconds: float | None
    noisiest: tuple[tuple[str, int], ...]
    still_firing: int


SEVERITY_ORDER = ("critical", "warning", "info")


def summarise_alerts(episodes: Iterable[Episode], top: int = 5) -> AlertSummary:
    """Counts by severity (critical first), MTTR of the resolved ones, the `top` noisiest."""
    eps = list(episodes)
    counts: dict[str, int] = {}
    names: dict[str, int] = {}
    for e in eps:
        counts[e.severity or "none"] = counts.get(e.severity or "none", 0) + 1
        names[e.name] = names.get(e.name, 0) + 1

    def rank(sev: str) -> tuple[int, str]:
        return (SEVERITY_ORDER.index(sev) if sev in SEVERITY_ORDER else len(SEVERITY_ORDER), sev)

    resolved = [t for e in eps if (t := e.time_to_resolve) is not None]
    return AlertSummary(
        total=len(eps),
        by_severity=tuple(sorted(counts.items(), key=lambda kv: rank(kv[0]))),
        mttr_seconds=sum(resolved) / len(resolved) if resolved else None,
        noisiest=tuple(sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[:top]),
        still_firing=sum(1 for e in eps if e.resolved is None),
    )


@dataclass(frozen=True, slots=True)
class ChartImage:
    """A chart drawn for the report: its file name, title and PNG bytes."""

    filename: str
    title: str
    png: bytes
    section: str = "usage"  # the section that shows it (a feature's extra section names its own)


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a report shows; sections read what they need from it.

    `extra` holds data of sections added later (projects, ...), by section name.
    `notes` are sentences the reader should know (a source that could not answer).
    """

    period: Period
    host: str  # "" for the whole fleet
    hosts: tuple[HostReport, ...]
    disks: tuple[DiskForecast, ...]
    alerts: AlertSummary
    charts: tuple[ChartImage, ...] = ()
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)


def weekday_number(name: str) -> int:
    """Monday=0 ... Sunday=6 from a three-letter name ('mon')."""
    try:
        return WEEKDAYS.index(name.strip().lower()[:3])
    except ValueError:
        raise ValueError(f"unknown weekday {name!r}; use one of {', '.join(WEEKDAYS)}") from None


def last_due(kind: ReportKind, now: datetime, at: str, weekday: str = "mon") -> datetime:
    """The latest scheduled time of `kind` at or before `now` (aware), `at` being 'HH:MM'
    local time in now's zone, weekly reports on `weekday`."""
    hh, mm = (int(x) for x in at.split(":"))
    local = now.replace(tzinfo=None)
    due = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if kind == "daily":
        if due > local:
            due -= timedelta(days=1)
    else:
        due -= timedelta(days=(due.weekday() - weekday_number(weekday)) % 7)
        if due > local:
            due -= timedelta(days=7)
    return due.replace(tzinfo=now.tzinfo)
