"""The reports feature: daily and weekly reports, on demand (/report) and on a schedule.

A report gathers its data (availability and the disks' trend from Prometheus, usage from the
named charts' range data, which goes to InfluxDB past Prometheus's retention, alert episodes
from the bot's own history), lets every registered section (`bot.domain.reports.sections`)
make its view, and renders the views twice through the templates: as a Discord message (one
embed per section, the charts as images) and as one self-contained HTML file attached to it.

The schedule (`ReportSchedule`) runs on the runtime's one APScheduler. Exactly once comes from
the report store, not the scheduler: a period is claimed in SQLite before it is sent, and at
start-up a period that came due while the bot was down is sent if it is within the grace
window and nobody claimed it.

Example::

    reports = ReportService(chart_data, charts, prometheus, status, store, ReportTemplates())
    msg = await reports.report(CONSOLE_ACTOR, "daily")
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.charts import CHARTS, Chart, Series
from bot.domain.messages import Embed, Image, Message
from bot.domain.permissions import Actor
from bot.domain.reports.model import (
    AlertSummary,
    ChartImage,
    DiskForecast,
    Episode,
    HostReport,
    Period,
    ReportData,
    ReportKind,
    Usage,
    last_due,
    period_ending,
    summarise_alerts,
    summed,
    usage_of,
    worst,
)
from bot.domain.reports.queries import availability_query, disk_avail_query, disk_trend_query
from bot.domain.reports.sections import ExtraSection, Section, SectionView, views
from bot.domain.status import Target, resolve
from bot.domain.text import escape
from bot.services.charts import ChartSource, HostDirectory
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import ChartRenderer, MetricsSource, MetricsUnavailable, ServiceError

log = logging.getLogger(__name__)

# Embed colour of a report: the blue of the HTML report's headings.
COLOUR = 0x3B6FD8
# (chart name, title): the report's three charts, one line per host each (CPU modes summed,
# the fullest file system).
CHART_KINDS: tuple[tuple[str, str], ...] = (
    ("cpu", "CPU busy"),
    ("memory", "Memory used"),
    ("disk", "Fullest file system"),
)

# Data of a section added later (projects): (period, host) -> what its view reads.
ExtraSource = Callable[[Period, str], Awaitable[object]]


class ReportStore(Protocol):
    """Claims of scheduled periods and the alert history (SqliteReportStore)."""

    async def claim(self, key: str, kind: str, period_end: float, now: float) -> bool:
        """Mark period `key` as being sent; False when it was claimed before."""
        ...

    async def sent(self, key: str, now: float, error: str = "") -> None:
        """Record how the send of `key` ended."""
        ...

    async def episodes(self, since: float, until: float) -> list[Episode]:
        """Alert episodes that started in [since, until)."""
        ...


class ReportTemplating(Protocol):
    """The report templates (ReportTemplates, jinja2)."""

    def section_markdown(self, view: SectionView) -> str:
        """One section as Discord markdown."""
        ...

    def html(self, data: ReportData, views: Sequence[tuple[Section, SectionView]]) -> str:
        """The whole report as a self-contained HTML document."""
        ...


class ReportSender(Protocol):
    """Where a scheduled report goes (a channel: the alert delivery's ChannelTarget)."""

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Post `msg`; the nonce makes a repeat after a crash the same message."""
        ...


class ReportBuilder(Protocol):
    """What the schedule needs of the service: a period's report as a message."""

    async def build(self, period: Period, host: str = "") -> Message:
        """The report of `period` (for one host, or "" for all)."""
        ...


class ReportService:
    """Builds reports; the handler of /report."""

    def __init__(
        self,
        data: ChartSource,
        renderer: ChartRenderer,
        prometheus: MetricsSource,
        hosts: HostDirectory,
        store: ReportStore,
        templates: ReportTemplating,
        *,
        timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
        extra: Mapping[str, ExtraSource] | None = None,
    ) -> None:
        self.data = data
        self.renderer = renderer
        self.prometheus = prometheus
        self.hosts = hosts
        self.store = store
        self.templates = templates
        self.zone = ZoneInfo(timezone)
        self.clock = clock
        self.extra = dict(extra or {})

    def commands(self) -> Mapping[str, CommandHandler]:
        """Catalogue command name -> handler."""
        return {"report": self.report}

    def components(self) -> Mapping[str, ComponentHandler]:
        """Catalogue component route -> handler (none)."""
        return {}

    def now(self) -> datetime:
        """The clock's time in the reports' time zone."""
        return datetime.fromtimestamp(self.clock(), self.zone)

    async def report(self, actor: Actor, kind: str = "daily", host: str | None = None) -> Message:
        """The `kind` report of the period ending now, for one host or the fleet."""
        period = period_ending("weekly" if kind == "weekly" else "daily", self.now())
        try:
            return await self.build(period, host or "")
        except MetricsUnavailable as exc:
            return Message(text=f"{exc}", ephemeral=True, outcome="unavailable")
        except _UnknownHost as exc:
            return Message(text=str(exc), ephemeral=True, outcome="not_found")

    async def build(self, period: Period, host: str = "") -> Message:
        """The report of `period` as a message with its charts and HTML file."""
        data = await self.collect(period, host)
        return await asyncio.to_thread(self.message, data)

    async def collect(self, period: Period, host: str = "") -> ReportData:
        """Everything the sections show, for `period` and one host ("" for all)."""
        targets = [t for t, _ in await self.hosts.targets()]
        chosen: Target | None = None
        if host:
            found = resolve(targets, host)
            if found.target is None:
                known = ", ".join(sorted({t.name for t in targets})[:20]) or "none yet"
                why = "matches several hosts" if found.candidates else "is not a host I know"
                raise _UnknownHost(f"{host!r} {why}; hosts: {known}.")
            chosen = found.target
            targets = [chosen]
        end = period.end.timestamp()
        names = _names(targets)
        notes: list[str] = []
        sources: list[str] = [self.prometheus.source]
        per_host: dict[str, dict[str, tuple[tuple[float, float], ...]]] = {}
        chart_series: dict[str, tuple[Series, ...]] = {}
        # One host at a time: the charts' InfluxQL does not group by host, so a fleet-wide
        # query would average the hosts together; each series here is the host's.
        for chart, _ in CHART_KINDS:
            lines: dict[str, tuple[tuple[float, float], ...]] = {}
            for t in targets:
                got = await self.data.series(CHARTS[chart], t, period.seconds, end)
                if got.source not in sources:
                    sources.append(got.source)
                if got.note and got.note not in notes:
                    notes.append(got.note)
                combine = summed if chart == "cpu" else worst
                pts = combine(s.points for s in got.series)
                if pts:
                    lines[t.name] = pts
                    per_host.setdefault(t.name, {})[chart] = pts
            chart_series[chart] = tuple(
                Series({"host": n}, pts, name=n) for n, pts in sorted(lines.items())
            )
        availability = await self._availability(period, names)
        disks = await self._disks(period, names)
        episodes = await self.store.episodes(period.start.timestamp(), end)
        if chosen is not None:
            episodes = [e for e in episodes if _host_of({"instance": e.host}, names) == chosen.name]
        hosts = tuple(
            HostReport(
                name=t.name,
                instance=t.instance,
                availability=availability.get(t.name),
                cpu=_usage(per_host, t.name, "cpu"),
                memory=_usage(per_host, t.name, "memory"),
                disk=_usage(per_host, t.name, "disk"),
            )
            for t in sorted(targets, key=lambda t: t.name)
        )
        charts = await self._charts(period, chosen.name if chosen else "", chart_series)
        extra: dict[str, object] = {}
        for name, source in self.extra.items():
            try:
                value = await source(period, host)
            except ServiceError as exc:
                notes.append(f"The {name} section could not be filled: {exc}")
                continue
            if isinstance(value, ExtraSection):
                extra[name] = value.view
                charts = (*charts, *value.charts)
            elif value is not None:
                extra[name] = value
        return ReportData(
            period=period,
            host=chosen.name if chosen else "",
            hosts=hosts,
            disks=tuple(d for d in disks if chosen is None or d.host == chosen.name),
            alerts=summarise_alerts(episodes),
            charts=charts,
            sources=tuple(sources),
            notes=tuple(notes),
            extra=extra,
        )

    async def _availability(self, period: Period, names: Mapping[str, str]) -> dict[str, float]:
        # `up` per target, averaged: a host scraped by two jobs counts both.
        got: dict[str, list[float]] = {}
        for s in await self.prometheus.query(availability_query(period.seconds)):
            name = _host_of(s.labels, names)
            if name:
                got.setdefault(name, []).append(s.value)
        return {n: sum(v) / len(v) for n, v in got.items()}

    async def _disks(self, period: Period, names: Mapping[str, str]) -> list[DiskForecast]:
        avail, trend = await asyncio.gather(
            self.prometheus.query(disk_avail_query()),
            self.prometheus.query(disk_trend_query(period.seconds)),
        )
        trends = {(s.labels.get("instance", ""), s.labels.get("mountpoint", "")): s.value
                  for s in trend}  # fmt: skip
        out: dict[tuple[str, str], DiskForecast] = {}
        for s in avail:
            name = _host_of(s.labels, names)
            key = (s.labels.get("instance", ""), s.labels.get("mountpoint", ""))
            if not name or key not in trends:
                continue
            # One mount point may show twice (bind mounts): keep one.
            out.setdefault((name, key[1]), DiskForecast(name, key[1], s.value, trends[key]))
        return list(out.values())

    async def _charts(
        self, period: Period, host: str, chart_series: Mapping[str, tuple[Series, ...]]
    ) -> tuple[ChartImage, ...]:
        out: list[ChartImage] = []
        start, end = period.start.timestamp(), period.end.timestamp()
        for chart, title in CHART_KINDS:
            series = chart_series.get(chart, ())
            if not series:
                continue
            spec = CHARTS[chart]
            drawn = Chart(
                title=f"{title} · {host or 'all hosts'} · {period.kind}",
                series=series,
                start=start,
                end=end,
                unit=spec.unit,
                minimum=spec.minimum,
                maximum=spec.maximum,
                step=_step(series),
            )
            png = await self.renderer.chart(drawn)
            out.append(ChartImage(f"report-{period.kind}-{chart}.png", drawn.title, png))
        return tuple(out)

    def message(self, data: ReportData) -> Message:
        """The report as a Discord message (blocking: templates; run in a thread)."""
        return report_message(data, self.templates)


def report_message(data: ReportData, templates: ReportTemplating) -> Message:
    """The report as a Discord message: a header, one embed per section, the charts, and the
    HTML file attached."""
    shown = views(data)
    what = data.host or "all hosts"
    header = "\n".join([data.period.label, *(escape(n) for n in data.notes)])
    embeds = [Embed(title=f"{data.period.kind.capitalize()} report · {escape(what)}",
                    description=header, colour=COLOUR,
                    footer="Full report with charts: the attached HTML file")]  # fmt: skip
    chart_embeds: list[Embed] = []
    titles = {c.filename: c.title for c in data.charts}
    for _section, view in shown:
        text = templates.section_markdown(_for_discord(view))
        embeds.append(Embed(title=escape(view.title), description=text, colour=COLOUR))
        chart_embeds += [Embed(title=escape(titles[f]), image=f, colour=COLOUR)
                         for f in view.charts if f in titles]  # fmt: skip
    html = templates.html(data, shown).encode("utf-8")
    stamp = data.period.end.strftime("%Y-%m-%d")
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in (data.host or "all"))[:40]
    images = [Image(c.filename, c.png, description=c.title) for c in data.charts]
    images.append(Image(f"report-{data.period.kind}-{slug}-{stamp}.html", html,
                        description="The full report as a web page"))  # fmt: skip
    return Message(embeds=(*embeds, *chart_embeds), images=tuple(images))


class _UnknownHost(ServiceError):
    """A /report host that names no host, or several."""


def _for_discord(view: SectionView) -> SectionView:
    """Outside text made safe: lines escaped; cells (in a code block) without backticks."""
    return replace(
        view,
        lines=tuple(escape(line) for line in view.lines),
        rows=tuple(tuple(c.replace("`", "'") for c in row) for row in view.rows),
    )


def _names(targets: Sequence[Target]) -> dict[str, str]:
    """Every label value a series may name a host by (instance, host, nodename) -> name."""
    out: dict[str, str] = {}
    for t in targets:
        for key in (t.address, t.nodename, t.host, t.instance):
            if key:
                out[key] = t.name
    return out


def _host_of(labels: Mapping[str, str], names: Mapping[str, str]) -> str:
    for label in ("instance", "host"):
        value = labels.get(label, "")
        if value in names:
            return names[value]
    return ""


def _usage(
    per_host: Mapping[str, Mapping[str, tuple[tuple[float, float], ...]]], host: str, chart: str
) -> Usage | None:
    return usage_of(per_host.get(host, {}).get(chart, ()))


def _step(series: Sequence[Series]) -> float:
    for s in series:
        if len(s.points) > 1:
            return s.points[1][0] - s.points[0][0]
    return 0.0


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """When the scheduled reports go out ([bot.reports])."""

    timezone: str = "UTC"
    daily_at: str = "08:00"  # "" turns the daily report off
    weekly_at: str = "08:00"  # "" turns the weekly report off
    weekly_day: str = "mon"
    grace_seconds: float = 6 * 3600.0

    def times(self) -> dict[ReportKind, str]:
        """The enabled kinds and their local HH:MM."""
        out: dict[ReportKind, str] = {}
        if self.daily_at:
            out["daily"] = self.daily_at
        if self.weekly_at:
            out["weekly"] = self.weekly_at
        return out


class ReportSchedule:
    """Sends each enabled report once per period, through the runtime's scheduler."""

    def __init__(
        self,
        service: ReportBuilder,
        store: ReportStore,
        sender: ReportSender,
        config: ScheduleConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.store = store
        self.sender = sender
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.clock = clock

    def add_jobs(self, scheduler: Any) -> list[Any]:
        """Add one cron job per enabled kind to an APScheduler 3 scheduler; its jobs."""
        from apscheduler.triggers.cron import CronTrigger

        jobs = []
        for kind, at in self.config.times().items():
            hh, mm = at.split(":")
            days = self.config.weekly_day if kind == "weekly" else "*"
            trigger = CronTrigger(day_of_week=days, hour=int(hh), minute=int(mm),
                                  timezone=self.zone)  # fmt: skip
            # The job runs at most once at a time and a late start still runs (within the
            # grace window); the claim in SQLite, not APScheduler, keeps it to one send.
            jobs.append(scheduler.add_job(
                self.run_due, trigger, args=(kind,), id=f"report-{kind}", name=f"{kind} report",
                replace_existing=True, coalesce=True, max_instances=1,
                misfire_grace_time=int(self.config.grace_seconds),
            ))  # fmt: skip
        return jobs

    def due(self, kind: ReportKind) -> Period:
        """The latest period of `kind` that has come due by the clock."""
        at = self.config.times()[kind]
        now = datetime.fromtimestamp(self.clock(), self.zone)
        return period_ending(kind, last_due(kind, now, at, self.config.weekly_day))

    async def run_due(self, kind: ReportKind) -> bool:
        """Send `kind`'s latest due period unless it was claimed or is past the grace; sent?"""
        period = self.due(kind)
        now = self.clock()
        late = now - period.end.timestamp()
        if late > self.config.grace_seconds:
            log.info("the %s report of %s is %.0f s late, past the grace window; not sent",
                     kind, period.end.isoformat(), late)  # fmt: skip
            return False
        if not await self.store.claim(period.key, kind, period.end.timestamp(), now):
            log.debug("the %s report %s was claimed before", kind, period.key)
            return False
        try:
            msg = await self.service.build(period)
            await self.sender.post(msg, _nonce(period.key))
        except Exception as exc:  # one failed report must not stop the next ones
            log.error("the %s report %s was not sent: %s", kind, period.key, exc)
            await self.store.sent(period.key, self.clock(), error=str(exc) or type(exc).__name__)
            return False
        await self.store.sent(period.key, self.clock())
        log.info("sent the %s report %s", kind, period.key)
        return True

    async def catch_up(self) -> list[ReportKind]:
        """At start-up: send each kind whose period came due while the bot was down."""
        return [kind for kind in self.config.times() if await self.run_due(kind)]


def _nonce(key: str) -> str:
    """A stable Discord nonce of a period (Discord keeps nonces for a few minutes)."""
    return hashlib.sha256(key.encode()).hexdigest()[:22]


__all__ = [
    "AlertSummary",
    "ReportSchedule",
    "ReportService",
    "ScheduleConfig",
]
