"""The shared scheduler's glue (`Runtime.scheduler`, APScheduler 3): fire times of a trigger
within a window, and the projects' periodic jobs. Exactly-once comes from each feature's own
claims in SQLite, not from here.

Example::

    trigger = CronTrigger.from_crontab("30 3 * * *", timezone="UTC")
    fire_times(trigger, since=now - 6 * 3600, until=now)   # [the 03:30 of today, if passed]
    schedule_projects(runtime.scheduler, projects, notifier, timezone="Europe/Berlin")
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.services.projects import Notifier, ProjectService

log = logging.getLogger(__name__)


def fire_times(trigger: BaseTrigger, since: float, until: float) -> list[float]:
    """The trigger's fire times in [since, until] (epoch seconds), oldest first."""
    times: list[float] = []
    start = dt.datetime.fromtimestamp(since, dt.UTC)
    previous = None
    at = trigger.get_next_fire_time(previous, start)
    while at is not None and at.timestamp() <= until and len(times) < 1000:
        times.append(at.timestamp())
        previous = at
        at = trigger.get_next_fire_time(previous, at + dt.timedelta(microseconds=1))
    return times

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
