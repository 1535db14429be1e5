"""The shared scheduler's glue (`Runtime.scheduler`, APScheduler 3): fire times of a trigger
within a window. Exactly-once comes from each feature's own claims in SQLite, not from here.
(The projects' reminders and digest run in the Discord face's notice loop, on its clock.)

Example::

    trigger = CronTrigger.from_crontab("30 3 * * *", timezone="UTC")
    fire_times(trigger, since=now - 6 * 3600, until=now)   # [the 03:30 of today, if passed]
"""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.triggers.base import BaseTrigger

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
