"""Glue between the one scheduler (`Runtime.scheduler`, APScheduler 3) and the features'
periodic jobs. Exactly-once comes from each feature's own claims in SQLite, not from here.

Example::

    schedule_projects(runtime.scheduler, projects, notifier, timezone="Europe/Berlin")
    runtime.scheduler.start()
"""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.services.projects import Notifier, ProjectService

log = logging.getLogger(__name__)

REMINDER_EVERY_SECONDS = 600


def schedule_projects(
    scheduler: Any,
    projects: ProjectService,
    notifier: Notifier,
    *,
    timezone: str,
    digest_hour: int,
) -> None:
    """Reminders every 10 minutes (and once at start), the digest daily at `digest_hour`
    (and at start when today's is due and unsent), linked alerts' states with the reminders."""

    async def reminders() -> None:
        try:
            await projects.sync_alerts()
            await projects.send_reminders(notifier)
        except Exception:
            log.exception("task reminders failed; the next run tries again")

    async def digest() -> None:
        try:
            await projects.send_digest(notifier)
        except Exception:
            log.exception("the overdue digest failed; it is tried again at start-up")

    scheduler.add_job(
        reminders,
        IntervalTrigger(seconds=REMINDER_EVERY_SECONDS),
        id="projects.reminders",
        replace_existing=True,
    )
    scheduler.add_job(reminders, id="projects.reminders.start", replace_existing=True)
    scheduler.add_job(
        digest,
        CronTrigger(hour=digest_hour, timezone=timezone),
        id="projects.digest",
        replace_existing=True,
    )
    if projects.digest_due(digest_hour):
        scheduler.add_job(digest, id="projects.digest.start", replace_existing=True)
