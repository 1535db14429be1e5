"""`/backup now | list` for admins, and the scheduled backup ([bot.backup] schedule).

The archive is written by the backup port in a thread (`asyncio.to_thread`): SQLite's online
backup, the Prometheus snapshot and `influxd backup` take seconds to minutes and must not stall
the event loop. One backup runs at a time. A scheduled run is claimed in the database
(table backup_run, one row per fire time) before it starts, so two processes or a restart
never take the same period twice; at start-up the newest fire time of the grace window that
nobody claimed is made up (`run_due`). Scheduled runs are audited as actor "scheduler".

Example::

    service = BackupService(BackupRunner(sources, Path("backups")), runs, audit)
    await service.now(actor)          # Message: where the archive is and how big
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bot.domain import commands as catalog
from bot.domain.audit import AuditRecord
from bot.domain.backup import (
    Archive,
    BackupFailed,
    Taken,
    archives_message,
    latest_due,
    taken_message,
)
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import AuditRepository, AuditWriteError

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"


class Backups(Protocol):
    """Writes and lists archives (bot.adapters.backup.BackupRunner); blocking calls."""

    def take(self) -> Taken:
        """Write an archive and apply retention; BackupFailed says what failed."""
        ...

    def archives(self) -> tuple[str, list[Archive]]:
        """The folder and its archives, newest first."""
        ...


class BackupRuns(Protocol):
    """Claims of scheduled runs (bot.adapters.backup_runs.SqliteBackupRuns)."""

    async def claim(self, fire_time: float, now: float) -> bool:
        """True when this process now owns the run of `fire_time`."""
        ...

    async def finish(self, fire_time: float, now: float, outcome: str, archive: str) -> None:
        """Record how the run ended."""
        ...

    async def claimed(self, since: float) -> set[float]:
        """Fire times claimed since `since`."""
        ...


class BackupService:
    """Takes and lists backups on demand and on schedule."""

    def __init__(
        self,
        backups: Backups,
        runs: BackupRuns,
        audit: AuditRepository,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backups = backups
        self.runs = runs
        self.audit = audit
        self.clock = clock
        self._running = asyncio.Lock()

    def commands(self) -> Mapping[str, CommandHandler]:
        """The backup part of the catalogue."""
        return {catalog.BACKUP_NOW.name: self.now, catalog.BACKUP_LIST.name: self.list}

    def components(self) -> Mapping[str, ComponentHandler]:
        """No buttons."""
        return {}

    async def now(self, actor: Actor) -> Message:
        """Take a backup now (the gate audits who asked and how it ended)."""
        if self._running.locked():
            return Message(text="A backup is running already; /backup list shows it when done.",
                           ephemeral=True, outcome="refused")  # fmt: skip
        try:
            taken = await self._take()
        except BackupFailed as exc:
            log.error("backup by %s failed: %s", actor.name, exc)
            return Message(text=f"The backup failed: {exc}", ephemeral=True, outcome="failed")
        log.info("backup by %s: %s (%d bytes)", actor.name, taken.path, taken.size)
        return taken_message(taken)

    async def list(self, actor: Actor) -> Message:
        """The archives on disk."""
        directory, archives = await asyncio.to_thread(self.backups.archives)
        return archives_message(directory, archives)

    async def _take(self) -> Taken:
        async with self._running:
            return await asyncio.to_thread(self.backups.take)

    async def run_due(self, fire_times: Sequence[float]) -> Taken | None:
        """Take the scheduled backup due now, unless another run claimed it; audited."""
        now = self.clock()
        since = min(fire_times, default=now)
        due = latest_due(fire_times, now, await self.runs.claimed(since))
        if due is None or not await self.runs.claim(due, now):
            return None
        try:
            taken = await self._take()
        except BackupFailed as exc:
            log.error("scheduled backup failed: %s", exc)
            await self.runs.finish(due, self.clock(), "failed", "")
            await self._audit("failed", str(exc)[:200])
            return None
        await self.runs.finish(due, self.clock(), "ok", taken.path)
        await self._audit("ok", taken.path)
        log.info("scheduled backup: %s (%d bytes)", taken.path, taken.size)
        return taken

    async def _audit(self, outcome: str, target: str) -> None:
        try:
            await self.audit.append(AuditRecord(SCHEDULER, "backup", target, outcome, self.clock()))
        except AuditWriteError as exc:
            log.error("cannot audit the scheduled backup: %s", exc)
