"""The report's sections: a registry of pure functions from the report's data to a view.

A section is a `Section` whose `view` turns `ReportData` into a `SectionView` (a title, a
few lines, a table, the charts it shows), or None when it has nothing to say. The templates
(`bot/adapters/templates/reports/`) draw every view the same way, as Discord markdown and as
HTML, so a new section is one `register(...)` call and nothing else.

Example::

    @register(name="uptime", title="Uptime", order=15)
    def _uptime(data: ReportData) -> SectionView | None:
        return SectionView(lines=(f"{len(data.hosts)} hosts",))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.reports.model import ChartImage, ReportData, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SectionView:
    """What one section shows: lines of text, a table, and chart file names (ChartImage)."""

    lines: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    charts: tuple[str, ...] = ()
    title: str = ""  # set from the Section when empty


ViewFn = Callable[[ReportData], SectionView | None]


@dataclass(frozen=True, slots=True)
class ExtraSection:
    """What a feature's report source returns: its section's view and the charts it shows
    (each ChartImage with `section` set to the feature's section name)."""

    view: SectionView
    charts: tuple[ChartImage, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    """A registered section: its name, title, place in the report and view function."""

    name: str
    title: str
    order: int
    view: ViewFn


SECTIONS: dict[str, Section] = {}


def register(*, name: str, title: str, order: int) -> Callable[[ViewFn], ViewFn]:
    """Decorator: add a section to the registry (its name must be new)."""

    def add(fn: ViewFn) -> ViewFn:
        if name in SECTIONS:
            raise ValueError(f"report section {name!r} is registered twice")
        SECTIONS[name] = Section(name, title, order, fn)
        return fn

    return add


def views(data: ReportData) -> list[tuple[Section, SectionView]]:
    """Every section with something to show, in order, each view titled."""
    out: list[tuple[Section, SectionView]] = []
    for s in sorted(SECTIONS.values(), key=lambda s: (s.order, s.name)):
        v = s.view(data)
        if v is not None:
            out.append((s, v if v.title else _titled(v, s.title)))
    return out


def _titled(v: SectionView, title: str) -> SectionView:
    return SectionView(v.lines, v.headers, v.rows, v.charts, title)


def percent(ratio: float | None) -> str:
    """A ratio as '12.3 %', or '-' when unknown."""
    return "-" if ratio is None else f"{ratio * 100:.1f} %"


def duration(seconds: float | None) -> str:
    """Seconds as '3 h 20 min', '4 min', '12 s', or '-'."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def gib(n: float) -> str:
    """Bytes as GiB with one decimal."""
    return f"{n / 2**30:.1f} GiB"


def _usage(u: Usage | None) -> tuple[str, str]:
    return (percent(u.p95), percent(u.maximum)) if u else ("-", "-")


@register(name="availability", title="Availability", order=10)
def _availability(data: ReportData) -> SectionView | None:
    if not data.hosts:
        return SectionView(lines=("No hosts answered in this period.",))
    down = [h.name for h in data.hosts if h.availability is not None and h.availability < 0.999]
    n = f"{len(data.hosts)} host{'' if len(data.hosts) == 1 else 's'}"
    line = (f"{n}; below 99.9 %: {', '.join(down)}" if down
            else f"{n}, all at or above 99.9 %" if len(data.hosts) > 1
            else f"{n}, at or above 99.9 %")  # fmt: skip
    return SectionView(
        lines=(line,),
        headers=("host", "available"),
        rows=tuple((h.name, percent(h.availability)) for h in data.hosts),
    )


@register(name="usage", title="CPU, memory and disk", order=20)
def _resources(data: ReportData) -> SectionView | None:
    rows = tuple(
        (h.name, *_usage(h.cpu), *_usage(h.memory), *_usage(h.disk)) for h in data.hosts
    )
    if not rows:
        return None
    return SectionView(
        lines=("p95 and maximum over the period; disk is the fullest file system.",),
        headers=("host", "CPU p95", "CPU max", "mem p95", "mem max", "disk p95", "disk max"),
        rows=rows,
        charts=tuple(c.filename for c in data.charts if c.section == "usage"),
    )


@register(name="disks", title="Disk fill forecast", order=30)
def _disks(data: ReportData) -> SectionView | None:
    if not data.disks:
        return SectionView(lines=("No file system data for a forecast.",))
    ordered = sorted(data.disks, key=lambda d: (d.days_left is None, d.days_left or 0.0))
    filling = [d for d in ordered if d.days_left is not None]
    if filling:
        d = filling[0]
        line = f"Soonest full: {d.host} {d.mountpoint} in {_days(d.days_left)}."
    else:
        line = "No file system is filling up at the current trend."
    return SectionView(
        lines=(line,),
        headers=("host", "mount", "free", "trend/day", "full in"),
        rows=tuple(
            (d.host, d.mountpoint, gib(d.avail_bytes), _signed_gib(d.trend_per_day),
             _days(d.days_left))
            for d in ordered
        ),
    )  # fmt: skip


def _days(days: float | None) -> str:
    if days is None:
        return "not filling"
    if days > 3650:
        return "> 10 years"
    return f"{days:.1f} days"


def _signed_gib(n: float) -> str:
    return ("+" if n >= 0 else "-") + gib(abs(n))


@register(name="alerts", title="Alerts", order=40)
def _alerts(data: ReportData) -> SectionView | None:
    a = data.alerts
    if not a.total:
        return SectionView(lines=("No alerts fired in this period.",))
    sev = ", ".join(f"{n} {s}" for s, n in a.by_severity)
    lines = (
        f"{a.total} alerts fired ({sev}); {a.still_firing} still firing.",
        f"Mean time to resolve: {duration(a.mttr_seconds)}.",
    )
    return SectionView(
        lines=lines,
        headers=("noisiest alert", "episodes"),
        rows=tuple((name, str(n)) for name, n in a.noisiest),
    )


@register(name="projects", title="Projects", order=50)
def _projects(data: ReportData) -> SectionView | None:
    """The projects feature's hook: it puts a SectionView under extra['projects']."""
    view = data.extra.get("projects")
    return view if isinstance(view, SectionView) else None
