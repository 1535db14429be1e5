"""The composition root: builds every resource from the settings, and closes them.

Example::

    async with Runtime.build(settings) as rt:
        print(await rt.core.execute(CONSOLE_ACTOR, "status", {}))
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from prometheus_client import CollectorRegistry

from bot.adapters.alertmanager import AlertmanagerClient
from bot.adapters.backup import BackupRunner
from bot.adapters.backup_runs import SqliteBackupRuns
from bot.adapters.charts import ChartPool
from bot.adapters.dashboards import SqliteDashboardStore
from bot.adapters.file_sd import FileSdRegistry
from bot.adapters.influxdb import InfluxDBClient
from bot.adapters.outbox import SqliteOutbox
from bot.adapters.projects import SqliteProjectStore
from bot.adapters.prometheus import PrometheusClient
from bot.adapters.reports import SqliteReportStore
from bot.adapters.sqlite import Database, SqliteAuditRepository, SqliteThresholdStore
from bot.adapters.templates import ReportTemplates
from bot.domain.alerts.routing import Destination, QuietHours, Route, parse_matcher
from bot.domain.permissions import Role, RoleMap
from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter
from bot.interfaces.web.server import AlertMetrics, BotMetrics
from bot.interfaces.web.thresholds import ThresholdCollector
from bot.services.admin import AdminService
from bot.services.alert_graph import AlertGrapher
from bot.services.alert_ingest import AlertIngest
from bot.services.alerts import AlertsService
from bot.services.audit import AuditService
from bot.services.backup import BackupService
from bot.services.chart_data import ChartData, RangeCache
from bot.services.charts import ChartService
from bot.services.core import Core
from bot.services.dashboards import DashboardService, WelcomeConfig
from bot.services.delivery import Routing
from bot.services.feature import Feature
from bot.services.gate import Gate
from bot.services.hosts import HostService
from bot.services.projects import ObservedStore, ProjectService
from bot.services.reports import ReportSchedule, ReportSender, ReportService, ScheduleConfig
from bot.services.schedule import fire_times
from bot.services.status import StatusService
from bot.services.thresholds import ThresholdService
from bot.settings import AlertsSettings, BotSettings

log = logging.getLogger(__name__)


def role_map(settings: BotSettings) -> RoleMap:
    """The settings' [bot.roles] as a RoleMap (owners are admin by construction)."""
    users: dict[int, Role] = {}
    roles: dict[int, Role] = {}
    r = settings.roles
    for role, grant in (
        (Role.VIEWER, r.viewer),
        (Role.OPERATOR, r.operator),
        (Role.ADMIN, r.admin),
    ):
        for uid in grant.user_ids:
            users[uid] = max(users.get(uid, Role.NONE), role)
        for rid in grant.role_ids:
            roles[rid] = max(roles.get(rid, Role.NONE), role)
    default = Role.VIEWER if r.default == "viewer" else Role.NONE
    return RoleMap(users=users, roles=roles, default=default)


def rate_limiter(settings: BotSettings) -> RateLimiter:
    """The settings' [bot.rate_limits] as a RateLimiter."""
    rl = settings.rate_limits
    return RateLimiter(
        {name: BucketRule(b.capacity, b.per_seconds) for name, b in rl.classes.items()},
        Backoff(rl.backoff_after, rl.backoff_base_seconds, rl.backoff_max_seconds),
    )


def alert_routing(settings: BotSettings) -> Routing:
    """The settings' [bot.alerts] routes, pings and quiet hours as the worker's Routing."""
    a: AlertsSettings = settings.alerts
    default = Destination(channel_id=a.default_channel_id)
    routes = tuple(
        Route(
            tuple(parse_matcher(m) for m in r.matchers),
            Destination(
                channel_id=r.channel_id
                or (0 if r.webhook_url_file or r.webhook_secret else a.default_channel_id),
                webhook_url_file=str(r.webhook_url_file or ""),
                webhook_secret=r.webhook_secret,
            ),
        )
        for r in a.routes
    )
    q = a.quiet_hours
    return Routing(
        routes=routes,
        default=default,
        ping_role_ids={k: tuple(v) for k, v in a.ping_role_ids.items()},
        quiet=QuietHours.parse(q.start, q.end, q.timezone),
        allowed_ping_role_ids=tuple(settings.discord.allowed_ping_role_ids),
        resolved_reply=a.resolved_reply,
    )


@dataclass
class Runtime:
    """Everything the faces share."""

    settings: BotSettings
    db: Database
    prometheus: PrometheusClient
    core: Core
    registry: CollectorRegistry
    metrics: BotMetrics
    alertmanager: AlertmanagerClient
    charts: ChartPool
    outbox: SqliteOutbox
    alert_metrics: AlertMetrics
    ingest: AlertIngest
    grapher: AlertGrapher
    # Set when alerts were stored or acted on: the delivery worker looks at the outbox.
    alerts_waiting: asyncio.Event
    # Range data of charts (Prometheus, InfluxDB past the retention), cached for one step.
    chart_data: ChartData | None = None
    influx: InfluxDBClient | None = None
    # The one scheduler of periodic work (docs/reports.md); started by the run path.
    scheduler: AsyncIOScheduler | None = None
    reports: ReportService | None = None
    backups: BackupService | None = None

    @classmethod
    async def build(cls, settings: BotSettings) -> Runtime:
        """Open the database (migrating it) and wire the services."""
        db = await Database.open(settings.database_path)
        p = settings.prometheus
        prometheus = PrometheusClient(
            p.url,
            timeout=p.timeout_seconds,
            bearer_token=p.bearer_token.get_secret_value(),
            username=p.username,
            password=p.password.get_secret_value(),
            headers=p.headers,
        )
        audit_key = settings.audit.secret()
        audit = SqliteAuditRepository(db, audit_key)
        limiter = rate_limiter(settings)
        registry = CollectorRegistry()
        metrics = BotMetrics(registry)
        roles = role_map(settings)
        gate = Gate(
            roles,
            limiter,
            audit,
            clock=time.time,
            observe=lambda name, outcome: metrics.commands.labels(name, outcome).inc(),
        )
        status = StatusService(
            prometheus,
            deadline=p.timeout_seconds,
            rate_interval=p.rate_interval,
            host_jobs=p.host_jobs,
            aliases=settings.hosts.aliases,
        )
        thresholds = ThresholdService(SqliteThresholdStore(db), aliases=settings.hosts.aliases)
        # Published from memory: loaded now, refreshed by the service after each change.
        await thresholds.refresh()
        registry.register(ThresholdCollector(thresholds.published))
        a = settings.alerts
        alertmanager = AlertmanagerClient(
            a.alertmanager_url, timeout=a.alertmanager_timeout_seconds
        )
        charts = ChartPool()
        outbox = SqliteOutbox(db)
        alert_metrics = AlertMetrics(registry)
        waiting = asyncio.Event()
        ingest = AlertIngest(outbox, alert_metrics, wake=waiting.set)
        grapher = AlertGrapher(prometheus, charts, window=a.graph_window_seconds)
        alerts = AlertsService(outbox, alertmanager, grapher, wake=waiting.set)
        influx = influx_client(settings)
        chart_data = ChartData(
            prometheus,
            influx,
            retention_seconds=p.retention_seconds,
            scrape_interval=p.scrape_interval_seconds,
            width_px=settings.charts.plot_width_px,
            cache=RangeCache(settings.charts.cache_entries),
        )
        chart_service = ChartService(chart_data, charts, prometheus, prometheus, status)
        r = settings.reports
        project_store = ObservedStore(SqliteProjectStore(db))
        projects = ProjectService(
            project_store, charts, alerts=outbox,
            timezone=settings.projects.timezone,
            digest_channel_id=settings.projects.digest_channel_id,
        )  # fmt: skip
        # The weekly report's projects section comes from the projects feature.
        reports = ReportService(chart_data, charts, prometheus, status, SqliteReportStore(db),
                                ReportTemplates(), timezone=r.timezone,
                                extra={"projects": projects.report_extra})  # fmt: skip
        dashboards = DashboardService(
            SqliteDashboardStore(db), charts, status, chart_data, alertmanager, reports.store,
            projects=projects, chart=chart_service.chart, welcome=welcome_config(settings),
        )  # fmt: skip
        dashboards.schedule.per_channel = settings.dashboards.per_channel_per_tick
        # An alert that fires or resolves refreshes the dashboards showing it within a tick.
        ingest.listeners.append(dashboards.alerts_changed)
        project_store.listeners.append(dashboards.projects_changed)
        features: list[Feature] = [
            status, AuditService(audit, audit_key), AdminService(roles, limiter), alerts,
            thresholds, chart_service, reports, projects, dashboards,
        ]  # fmt: skip
        features.append(HostService(FileSdRegistry(settings.hosts.file_sd)))
        backups = backup_service(settings, db, audit)
        features.append(backups)
        scheduler = AsyncIOScheduler(timezone=settings.reports.timezone)
        return cls(
            settings,
            db,
            prometheus,
            Core(gate, features),
            registry,
            metrics,
            alertmanager,
            charts,
            outbox,
            alert_metrics,
            ingest,
            grapher,
            waiting,
            chart_data=chart_data,
            influx=influx,
            scheduler=scheduler,
            reports=reports,
            backups=backups,
        )

    def start_scheduler(self) -> None:
        """Start the scheduler with the backup job, and a run now of a missed backup."""
        assert self.scheduler is not None and self.backups is not None
        b = self.settings.backup
        if b.schedule:
            trigger = CronTrigger.from_crontab(b.schedule, timezone=b.timezone)
            service, grace = self.backups, b.missed_grace_hours * 3600

            async def scheduled_backup() -> None:
                now = time.time()
                await service.run_due(fire_times(trigger, now - grace, now))

            self.scheduler.add_job(scheduled_backup, trigger, id="backup", coalesce=True,
                                   misfire_grace_time=int(grace) or None)  # fmt: skip
            # No trigger: once, now. It finds the newest fire time of the grace window that
            # no run claimed (the bot was down then), or nothing.
            self.scheduler.add_job(scheduled_backup, id="missed backup")
        self.scheduler.start()

    async def close(self) -> None:
        """Stop the scheduler; close the HTTP sessions, the chart processes and the database."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.prometheus.close()
        if self.influx is not None:
            await self.influx.close()
        await self.alertmanager.close()
        await self.charts.close()
        await self.db.close()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def report_audit_head_once(self) -> None:
        """Log the audit head and export its row: a copy of it outside the database."""
        head = await self.core.gate.audit.head()
        row, digest = (head.seq, head.hash) if head else (0, "none (empty log)")
        self.metrics.audit_head_row.set(row)
        log.info("audit head: row %d, hash %s", row, digest)

    async def report_audit_head(self) -> None:
        """`report_audit_head_once` every [bot.audit] head_report_seconds, until cancelled."""
        while True:
            try:
                await self.report_audit_head_once()
            except Exception as exc:  # a locked or broken database: say so, try again later
                log.warning("cannot read the audit head: %s", exc)
            await asyncio.sleep(self.settings.audit.head_report_seconds)

    def schedule_reports(self, sender: ReportSender) -> ReportSchedule | None:
        """Add [bot.reports]' jobs to the scheduler (None when reports are off)."""
        r = self.settings.reports
        if not r.enabled or self.reports is None or self.scheduler is None:
            return None
        config = ScheduleConfig(r.timezone, r.daily_at, r.weekly_at, r.weekly_day,
                                r.grace_seconds)  # fmt: skip
        schedule = ReportSchedule(self.reports, self.reports.store, sender, config)
        schedule.add_jobs(self.scheduler)
        # Once, as soon as the scheduler starts: a period that came due while the bot was down.
        self.scheduler.add_job(schedule.catch_up, id="report-catch-up", name="report catch-up")
        return schedule

    def alert_routing(self) -> Routing:
        """[bot.alerts] as the delivery worker's routing."""
        return alert_routing(self.settings)

    def health(self) -> dict[str, Any]:
        """What /healthz reports beside status ok."""
        return {"database": str(self.settings.database_path), "prometheus": self.prometheus.source}


def welcome_config(settings: BotSettings) -> WelcomeConfig:
    """[bot.dashboards.welcome], with the stack's links (Grafana when set, Prometheus and
    Alertmanager from their settings unless overridden)."""
    w = settings.dashboards.welcome
    links = [(link.label, link.url) for link in w.links]
    for label, url in (
        ("Grafana", w.grafana_url),
        ("Prometheus", w.prometheus_url or settings.prometheus.url),
        ("Alertmanager", w.alertmanager_url or settings.alerts.alertmanager_url),
    ):
        if url:
            links.append((label, url))
    return WelcomeConfig(w.title, w.text, tuple(links), w.accept_role_id)


def backup_service(
    settings: BotSettings, db: Database, audit: SqliteAuditRepository
) -> BackupService:
    """/backup now | list and the scheduled backup, from [bot.backup]."""
    from bot.interfaces.console.backup import sources

    b = settings.backup
    runner = BackupRunner(
        sources(settings),
        b.folder(settings.database_path),
        b.encryption_key.get_secret_value(),
        b.keep_daily,
        b.keep_weekly,
    )
    return BackupService(runner, SqliteBackupRuns(db), audit)


def influx_client(settings: BotSettings) -> InfluxDBClient | None:
    """The InfluxDB chart source of [bot.influxdb], or None when it is not enabled."""
    i = settings.influxdb
    if not i.enabled:
        return None
    return InfluxDBClient(
        i.url,
        database=i.database,
        retention_policy=i.retention_policy,
        timeout=i.timeout_seconds,
        token=i.token.get_secret_value(),
        username=i.username,
        password=i.password.get_secret_value(),
    )
