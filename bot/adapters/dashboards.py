"""The live dashboards in SQLite (migration 8): one row each.

Example::

    store = SqliteDashboardStore(db)
    d = await store.add(123, Params("fleet"), 60, "vic", now)
    await store.update(d.id, message_ids=(456,), digest="ab12")
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.adapters.sqlite import Database
from bot.domain.dashboards.live import Dashboard
from bot.domain.dashboards.model import Params
from bot.services.ports import ServiceError

log = logging.getLogger(__name__)

T = TypeVar("T")
# Column names are constants here; every value is a bound parameter (S608 is noqa so).
_COLUMNS = "id, channel_id, message_ids, params, interval, digest, created_by, created_at"


class DashboardStoreError(ServiceError):
    """The dashboards could not be read or written; the message names the database."""


def _row(r: Sequence[Any]) -> Dashboard:
    return Dashboard(
        id=int(r[0]),
        channel_id=int(r[1]),
        message_ids=tuple(int(i) for i in json.loads(r[2])),
        params=Params.from_json(r[3]),
        interval=int(r[4]),
        digest=str(r[5]),
        created_by=str(r[6]),
        created_at=float(r[7]),
    )


class SqliteDashboardStore:
    """Implements the dashboards service's store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _run(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        return await self.db.transact_or(fn, DashboardStoreError, what)

    async def add(
        self, channel_id: int, params: Params, interval: int, created_by: str, now: float
    ) -> Dashboard:
        """A new dashboard, not yet posted."""

        def work(c: sqlite3.Connection) -> Dashboard:
            cur = c.execute(
                "INSERT INTO dashboard (channel_id, params, interval, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (channel_id, params.to_json(), interval, created_by, now),
            )
            row = c.execute(
                f"SELECT {_COLUMNS} FROM dashboard WHERE id = ?", (cur.lastrowid,)  # noqa: S608
            ).fetchone()
            return _row(row)

        return await self._run(work, "add a dashboard")

    async def all(self) -> list[Dashboard]:
        """Every live dashboard, oldest first."""
        return await self._run(
            lambda c: [_row(r) for r in c.execute(f"SELECT {_COLUMNS} FROM dashboard ORDER BY id")],  # noqa: S608
            "read the dashboards",
        )

    async def get(self, dashboard_id: int) -> Dashboard | None:
        """One dashboard, if it exists."""

        def work(c: sqlite3.Connection) -> Dashboard | None:
            r = c.execute(
                f"SELECT {_COLUMNS} FROM dashboard WHERE id = ?", (dashboard_id,)  # noqa: S608
            ).fetchone()
            return _row(r) if r else None

        return await self._run(work, "read a dashboard")

    async def update(
        self,
        dashboard_id: int,
        *,
        message_ids: Sequence[int] | None = None,
        params: Params | None = None,
        digest: str | None = None,
        refreshed_at: float | None = None,
    ) -> None:
        """Change what is given; the rest stays."""
        sets: list[str] = []
        values: list[Any] = []
        for column, value in (
            ("message_ids", None if message_ids is None else json.dumps(list(message_ids))),
            ("params", None if params is None else params.to_json()),
            ("digest", digest),
            ("refreshed_at", refreshed_at),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value)
        if not sets:
            return
        await self._run(
            lambda c: c.execute(
                f"UPDATE dashboard SET {', '.join(sets)} WHERE id = ?", (*values, dashboard_id)  # noqa: S608
            ),
            "update a dashboard",
        )

    async def remove(self, dashboard_id: int) -> bool:
        """Forget a dashboard; False when there was none."""
        return await self._run(
            lambda c: (
                c.execute("DELETE FROM dashboard WHERE id = ?", (dashboard_id,)).rowcount == 1
            ),
            "remove a dashboard",
        )
