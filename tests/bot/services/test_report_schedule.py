"""Scheduled reports with an injected clock and a real SQLite database: one send per period,
across a restart, a missed run caught up within the grace window, and the APScheduler jobs
at the configured local times."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.adapters.reports import SqliteReportStore
from bot.adapters.sqlite import Database
from bot.domain.messages import Message
from bot.domain.reports.model import Period
from bot.services.reports import ReportSchedule, ScheduleConfig

BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = ScheduleConfig(timezone="Europe/Berlin", daily_at="08:00", weekly_at="09:30",
                        weekly_day="mon", grace_seconds=6 * 3600)  # fmt: skip


class Clock:
    """A settable clock."""

    def __init__(self, when: datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t

    def set(self, when: datetime) -> None:
        self.t = when.timestamp()


class Builder:
    """Builds a one-line report naming its period."""

    async def build(self, period: Period, host: str = "") -> Message:
        return Message(text=f"{period.kind} report {period.key}")


class Channel:
    """Where sent reports land (the Discord channel, which cannot run here)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    async def post(self, msg: Message, nonce: str) -> list[int]:
        if self.fail:
            raise OSError("Discord is unreachable")
        self.sent.append((msg.text, nonce))
        return [len(self.sent)]


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


async def _schedule(path: Path, clock: Clock, channel: Channel) -> tuple[ReportSchedule, Database]:
    db = await Database.open(path)
    return ReportSchedule(Builder(), SqliteReportStore(db), channel, CONFIG, clock=clock), db


async def test_one_send_per_period_across_a_restart(tmp_path: Path) -> None:
    """The 08:00 job sends once; firing again and a restart's catch-up send nothing; the next
    day's 08:00 sends the next period."""
    clock, channel = Clock(_at(2026, 12, 2, 8, 0, 1)), Channel()
    schedule, db = await _schedule(tmp_path / "bot.sqlite3", clock, channel)
    assert await schedule.run_due("daily") is True
    assert await schedule.run_due("daily") is False  # a second firing of the same period
    await db.close()
    clock.set(_at(2026, 12, 2, 8, 5))
    schedule, db = await _schedule(tmp_path / "bot.sqlite3", clock, channel)  # the restart
    assert await schedule.catch_up() == []
    assert [t for t, _ in channel.sent] == ["daily report daily:2026-12-02T08:00+01:00"]
    clock.set(_at(2026, 12, 3, 8, 0))
    assert await schedule.run_due("daily") is True
    assert [t for t, _ in channel.sent][1] == "daily report daily:2026-12-03T08:00+01:00"
    assert len({n for _, n in channel.sent}) == 2 and all(len(n) <= 25 for _, n in channel.sent)
    runs = await SqliteReportStore(db).runs()
    assert [k for k, sent, _ in runs if sent] == ["daily:2026-12-02T08:00+01:00",
                                                  "daily:2026-12-03T08:00+01:00"]  # fmt: skip
    await db.close()


async def test_a_run_missed_while_down_is_caught_up_within_the_grace_only(tmp_path: Path) -> None:
    """Down over 08:00 and back at 11:00: the start-up catch-up sends the daily report (and
    Monday's weekly, due 09:30); back only at 15:00 the next day: past the grace, not sent."""
    clock, channel = Clock(_at(2026, 11, 30, 11, 0)), Channel()  # a Monday
    schedule, db = await _schedule(tmp_path / "bot.sqlite3", clock, channel)
    assert sorted(await schedule.catch_up()) == ["daily", "weekly"]
    assert {t.split()[0] for t, _ in channel.sent} == {"daily", "weekly"}
    clock.set(_at(2026, 12, 1, 15, 0))
    assert await schedule.catch_up() == []
    assert len(channel.sent) == 2
    await db.close()


async def test_a_failed_send_is_recorded_and_not_repeated(tmp_path: Path) -> None:
    """Claimed before the send: a failure is stored with its reason, and not sent twice."""
    clock = Clock(_at(2026, 12, 2, 8, 0))
    schedule, db = await _schedule(tmp_path / "bot.sqlite3", clock, Channel(fail=True))
    assert await schedule.run_due("daily") is False
    ((key, sent, error),) = await SqliteReportStore(db).runs()
    assert key.startswith("daily:") and sent is None and "unreachable" in error
    assert await schedule.run_due("daily") is False
    await db.close()


async def test_jobs_fire_at_the_configured_local_times(tmp_path: Path) -> None:
    """The cron jobs' next fire times are 08:00 daily and Monday 09:30, Berlin time."""
    clock = Clock(_at(2026, 12, 2, 12, 0))  # a Wednesday
    schedule, db = await _schedule(tmp_path / "bot.sqlite3", clock, Channel())
    scheduler = AsyncIOScheduler(timezone="UTC")
    jobs = {j.id: j for j in schedule.add_jobs(scheduler)}
    now = _at(2026, 12, 2, 12, 0)
    assert jobs["report-daily"].trigger.get_next_fire_time(None, now) == _at(2026, 12, 3, 8, 0)
    assert jobs["report-weekly"].trigger.get_next_fire_time(None, now) == _at(2026, 12, 7, 9, 30)
    assert jobs["report-daily"].args == ("daily",)
    await db.close()
