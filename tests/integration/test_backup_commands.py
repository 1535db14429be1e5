"""/backup now | list through simcord for admins (refused for others, audited, the archive left
on disk and the answer naming its path and size), /host add through Discord, and the
scheduled backup: claimed once per fire time across two runtimes, a missed run made up."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.adapters.backup import list_archives
from bot.domain.backup import format_size
from bot.interfaces.runtime import Runtime, role_map
from bot.services.schedule import fire_times
from tests.bot.conftest import make_settings
from tests.harness.simbot import bot_in_guild
from tests.integration.test_alert_commands import private, said

pytestmark = pytest.mark.integration

T0 = 1796256000.0  # 2026-12-03T00:00:00Z


def _audit(db: Path) -> list[tuple[str, str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT actor, action, outcome FROM audit_log ORDER BY seq")
        return [(str(a), str(b), str(o)) for a, b, o in rows]


async def test_backup_and_host_commands_through_discord(tmp_path: Path) -> None:
    """A viewer's /backup now is refused; an admin's writes an archive that stays on disk and
    the answer says where and how big; /backup list shows it; /host add writes the file."""
    file_sd = tmp_path / "sd" / "homelab-exporter-bot.yml"
    settings = make_settings(tmp_path, hosts={"file_sd": file_sd})
    async with bot_in_guild(settings) as (env, channel, viewer):
        admin_role = channel.guild.create_role("admins")
        env.bot.core.gate.roles = role_map(
            make_settings(tmp_path, roles={"admin": {"role_ids": [admin_role.id]}})
        )
        admin = channel.guild.add_member(env.create_user("ann"), roles=[admin_role])

        refused = await viewer.slash(channel, "backup now")
        assert "admin" in said(refused).lower() and private(refused), said(refused)
        assert list_archives(settings.backup.folder(settings.database_path)) == []

        done = await admin.slash(channel, "backup now")
        (archive,) = list_archives(settings.backup.folder(settings.database_path))
        path = settings.backup.folder(settings.database_path) / archive.name
        assert str(path) in said(done) and format_size(archive.size) in said(done), said(done)
        assert private(done) and path.is_file()

        listed = await admin.slash(channel, "backup list")
        assert archive.name in said(listed) and "1 backups" in said(listed), said(listed)

        host = await admin.slash(channel, "host add", name="pi", address="pi.lan")
        assert "Registered pi" in said(host), said(host)
        assert "pi.lan:9101" in file_sd.read_text()
    actions = [(b, o) for _, b, o in _audit(settings.database_path)]
    assert ("backup now", "refused: needs admin") in actions
    assert ("backup now", "ok") in actions and ("host add", "ok") in actions


async def test_scheduled_backup_runs_once_per_fire_time_and_makes_up_a_missed_one(
    tmp_path: Path,
) -> None:
    """Two runtimes on one database due at the same fire time take one backup between them;
    a runtime started 2 h after a missed 03:30 takes it (audited as the scheduler), and one
    started outside the grace window does not."""
    settings = make_settings(tmp_path, backup={"schedule": "30 3 * * *", "missed_grace_hours": 6})
    trigger = CronTrigger.from_crontab("30 3 * * *", timezone="UTC")
    at = T0 + 5.5 * 3600  # 05:30, two hours after the 03:30 run that nobody took
    window = fire_times(trigger, at - 6 * 3600, at)
    assert window == [T0 + 3.5 * 3600]

    async with await Runtime.build(settings) as one, await Runtime.build(settings) as two:
        assert one.backups is not None and two.backups is not None
        one.backups.clock = two.backups.clock = lambda: at
        first = await one.backups.run_due(window)
        second = await two.backups.run_due(window)
    assert first is not None and second is None
    assert len(list_archives(settings.backup.folder(settings.database_path))) == 1
    assert ("scheduler", "backup", "ok") in _audit(settings.database_path)

    late = T0 + 24 * 3600 + 10 * 3600  # 10:00 the next day: its 03:30 was 6.5 h ago
    late_window = fire_times(trigger, late - 6 * 3600, late)
    assert late_window == []
    async with await Runtime.build(settings) as three:
        assert three.backups is not None
        three.backups.clock = lambda: late
        assert await three.backups.run_due(late_window) is None
    assert len(list_archives(settings.backup.folder(settings.database_path))) == 1


async def test_the_bots_scheduler_takes_the_backup_itself(tmp_path: Path) -> None:
    """start_scheduler() (what `homelab-bot run` calls) puts the backup on the one APScheduler:
    with an every-minute schedule the start-up run takes the due backup by itself, claimed in
    backup_run and audited as the scheduler; the cron job is registered for the next ones."""
    import asyncio
    import time

    settings = make_settings(tmp_path, backup={"schedule": "* * * * *", "missed_grace_hours": 1})
    folder = settings.backup.folder(settings.database_path)
    async with await Runtime.build(settings) as runtime:
        assert runtime.scheduler is not None
        runtime.start_scheduler()
        job = runtime.scheduler.get_job("backup")
        assert job is not None and job.next_run_time is not None
        deadline = time.monotonic() + 60
        while ("scheduler", "backup", "ok") not in _audit(settings.database_path):
            assert time.monotonic() < deadline, "the scheduled run never finished"
            await asyncio.sleep(0.1)
    assert len(list_archives(folder)) == 1  # (a minute boundary meanwhile: retention keeps 1)
    with contextlib.closing(sqlite3.connect(settings.database_path)) as c:
        assert {r[0] for r in c.execute("SELECT outcome FROM backup_run")} == {"ok"}
