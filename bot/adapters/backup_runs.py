"""Scheduled backup runs in table backup_run: one row per fire time, claimed before the run.

Example::

    runs = SqliteBackupRuns(db)
    if await runs.claim(fire_time, now):
        ...  # take the backup
        await runs.finish(fire_time, now, "ok", "/srv/backups/homelab-backup-....tar.gz")
"""

from __future__ import annotations

import logging
import sqlite3

from bot.adapters.sqlite import Database

log = logging.getLogger(__name__)


class BackupRunError(Exception):
    """The backup_run table cannot be read or written."""


class SqliteBackupRuns:
    """The claims and outcomes of scheduled backups (a BackupRuns for bot.services.backup)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, fire_time: float, now: float) -> bool:
        """Claim the run of `fire_time`; False when it was claimed already (by any process)."""
        try:
            cur = await self.db.run(
                lambda c: c.execute(
                    "INSERT INTO backup_run (fire_time, claimed_at) VALUES (?, ?)"
                    " ON CONFLICT (fire_time) DO NOTHING",
                    (fire_time, now),
                )
            )
        except sqlite3.Error as exc:
            raise BackupRunError(f"cannot claim the backup of {fire_time}: {exc}") from exc
        return bool(cur.rowcount)

    async def finish(self, fire_time: float, now: float, outcome: str, archive: str) -> None:
        """Record how the run of `fire_time` ended."""
        try:
            await self.db.run(
                lambda c: c.execute(
                    "UPDATE backup_run SET finished_at = ?, outcome = ?, archive = ?"
                    " WHERE fire_time = ?",
                    (now, outcome, archive, fire_time),
                )
            )
        except sqlite3.Error as exc:
            raise BackupRunError(f"cannot record the backup of {fire_time}: {exc}") from exc

    async def claimed(self, since: float) -> set[float]:
        """The fire times claimed at or after `since`."""
        try:
            rows = await self.db.run(
                lambda c: c.execute(
                    "SELECT fire_time FROM backup_run WHERE fire_time >= ?", (since,)
                ).fetchall()
            )
        except sqlite3.Error as exc:
            raise BackupRunError(f"cannot read the backup runs: {exc}") from exc
        return {float(r[0]) for r in rows}
