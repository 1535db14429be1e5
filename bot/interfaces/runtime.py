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

from prometheus_client import CollectorRegistry

from bot.adapters.prometheus import PrometheusClient
from bot.adapters.sqlite import Database, SqliteAuditRepository, SqliteThresholdStore
from bot.domain.permissions import Role, RoleMap
from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter
from bot.interfaces.web.server import BotMetrics
from bot.interfaces.web.thresholds import ThresholdCollector
from bot.services.admin import AdminService
from bot.services.audit import AuditService
from bot.services.core import Core
from bot.services.gate import Gate
from bot.services.status import StatusService
from bot.services.thresholds import ThresholdService
from bot.settings import BotSettings

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


@dataclass
class Runtime:
    """Everything the faces share."""

    settings: BotSettings
    db: Database
    prometheus: PrometheusClient
    core: Core
    registry: CollectorRegistry
    metrics: BotMetrics

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
        return cls(
            settings,
            db,
            prometheus,
            Core(
                gate,
                [
                    status,
                    AuditService(audit, audit_key),
                    AdminService(roles, limiter),
                    thresholds,
                ],
            ),
            registry,
            metrics,
        )

    async def close(self) -> None:
        """Close the HTTP session and the database."""
        await self.prometheus.close()
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

    def health(self) -> dict[str, Any]:
        """What /healthz reports beside status ok."""
        return {"database": str(self.settings.database_path), "prometheus": self.prometheus.source}
