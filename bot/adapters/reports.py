"""The reports' SQLite state (migration report_run) and the alert history they summarise.

`claim` is the idempotency check of a scheduled report: the first caller for a period's key
inserts its row and sends; any later caller (a second job firing, the start-up catch-up after
a restart) finds the row and does not. The alert history is the delivery worker's
`alert_state` table: one row per firing episode, its alert as Alertmanager sent it last.

Example::

    store = SqliteReportStore(db)
    if await store.claim("daily:2026-12-03T08:00+00:00", "daily", period_end, time.time()):
        ...send...
        await store.sent("daily:2026-12-03T08:00+00:00", time.time())
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from bot.adapters.sqlite import Database
from bot.domain.alerts.model import PayloadError, alert_from_json
from bot.domain.reports.model import Episode
from bot.services.ports import ServiceError

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReportStoreError(ServiceError):
    """The report state or the alert history could not be read or written."""


class SqliteReportStore:
    """Claims of scheduled reports, and the alert episodes of a period."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _run(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        return await self.db.transact_or(fn, ReportStoreError, what)

    async def claim(self, key: str, kind: str, period_end: float, now: float) -> bool:
        """Mark the period `key` as being sent; False when it was claimed before."""
        return await self._run(
            lambda c: c.execute(
                "INSERT INTO report_run (key, kind, period_end, claimed_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, kind, period_end, now),
            ).rowcount == 1,
            "claim a scheduled report",
        )  # fmt: skip

    async def sent(self, key: str, now: float, error: str = "") -> None:
        """Record how the claimed send of `key` ended (an error sentence, or sent)."""
        await self._run(
            lambda c: c.execute(
                "UPDATE report_run SET sent_at = ?, error = ? WHERE key = ?",
                (None if error else now, error, key),
            ),
            "record a scheduled report",
        )

    async def runs(self) -> list[tuple[str, float | None, str]]:
        """Every claimed period: (key, sent at or None, error), oldest first."""
        return await self._run(
            lambda c: [
                (str(k), s, str(e))
                for k, s, e in c.execute(
                    "SELECT key, sent_at, error FROM report_run ORDER BY period_end, key"
                )
            ],
            "read scheduled reports",
        )

    async def episodes(self, since: float, until: float) -> list[Episode]:
        """Alert episodes that started firing in [since, until)."""

        def work(c: sqlite3.Connection) -> list[tuple[str, str]]:
            return [(str(a), str(s)) for a, s in c.execute("SELECT alert, status FROM alert_state")]

        out: list[Episode] = []
        for text, status in await self._run(work, "read the alert history"):
            try:
                alert = alert_from_json(text)
            except PayloadError:
                log.warning("an alert_state row holds an alert that does not parse; skipped")
                continue
            starts = alert.starts()
            if starts is None or not since <= starts < until:
                continue
            resolved = alert.ends() if status == "resolved" else None
            out.append(
                Episode(
                    name=alert.name or "(unnamed)",
                    severity=alert.labels.get("severity", ""),
                    host=alert.host,
                    starts=starts,
                    resolved=resolved,
                )
            )
        return out
