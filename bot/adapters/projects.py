"""Projects and tasks in SQLite (tables project, project_task, project_event, project_notice):
each change writes the new state and its event in one transaction.

Example::

    store = SqliteProjectStore(db)
    project = await store.create("project", lambda pid: new_project(pid, "NAS", actor="ann",
                                                                     at=now))
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.adapters.sqlite import Database
from bot.domain.projects.model import Event, Project, Task, as_fields, from_fields

log = logging.getLogger(__name__)
T = TypeVar("T", Project, Task)


class SqliteProjectStore:
    """The projects feature's storage; the event log is append-only (triggers refuse edits)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, kind: str, build: Callable[[int], tuple[T, Event]]) -> T:
        """Build a new project or task with the next free id and store it with its event."""
        table = "project" if kind == "project" else "project_task"

        def work(c: sqlite3.Connection) -> T:
            next_id = c.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0]  # noqa: S608
            obj, event = build(int(next_id))
            _write(c, obj)
            _append(c, event)
            return obj

        return await self.db.transact(work)

    async def save(self, obj: Project | Task, event: Event | None) -> None:
        """Store a changed project or task with the event that changed it (None: unchanged)."""
        if event is None:
            return

        def work(c: sqlite3.Connection) -> None:
            _write(c, obj)
            _append(c, event)

        await self.db.transact(work)

    async def projects(self) -> list[Project]:
        """Every project, deleted ones included."""
        rows = await self.db.run(
            lambda c: c.execute("SELECT data FROM project ORDER BY id").fetchall()
        )
        return [from_fields(Project, json.loads(r[0])) for r in rows]

    async def tasks(self, project_id: int = 0) -> list[Task]:
        """Every task (of one project when given), deleted ones included."""
        sql, args = "SELECT data FROM project_task", tuple[int, ...]()
        if project_id:
            sql, args = sql + " WHERE project_id = ?", (project_id,)
        rows = await self.db.run(lambda c: c.execute(sql + " ORDER BY id", args).fetchall())
        return [from_fields(Task, json.loads(r[0])) for r in rows]

    async def task(self, task_id: int) -> Task | None:
        """One task by id."""
        row = await self.db.run(
            lambda c: c.execute("SELECT data FROM project_task WHERE id = ?", (task_id,)).fetchone()
        )
        return from_fields(Task, json.loads(row[0])) if row else None

    async def events(self) -> list[Event]:
        """The whole log, oldest first."""
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT at, actor, entity, entity_id, action, before, after FROM project_event"
                " ORDER BY seq"
            ).fetchall()
        )
        return [
            Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6])) for r in rows
        ]

    async def claim(self, key: str, at: float) -> bool:
        """Mark the notice `key` sent; False when it was claimed before (never send twice)."""

        def work(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "INSERT OR IGNORE INTO project_notice (key, sent_at) VALUES (?, ?)", (key, at)
            )
            return cur.rowcount == 1

        return await self.db.run(work)

    async def claimed(self, prefix: str) -> Sequence[str]:
        """Keys of notices already sent that start with `prefix`."""
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT key FROM project_notice WHERE key LIKE ? ORDER BY key", (prefix + "%",)
            ).fetchall()
        )
        return [r[0] for r in rows]


def _write(c: sqlite3.Connection, obj: Project | Task) -> None:
    data = json.dumps(as_fields(obj), sort_keys=True)
    if isinstance(obj, Project):
        c.execute(
            "INSERT INTO project (id, name, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET name = excluded.name, data = excluded.data",
            (obj.id, obj.name, data),
        )
    else:
        c.execute(
            "INSERT INTO project_task (id, project_id, data) VALUES (?, ?, ?) ON CONFLICT (id)"
            " DO UPDATE SET data = excluded.data",
            (obj.id, obj.project_id, data),
        )


def _append(c: sqlite3.Connection, e: Event) -> None:
    def dump(v: Any) -> str:
        return json.dumps(dict(v), sort_keys=True)

    c.execute(
        "INSERT INTO project_event (at, actor, entity, entity_id, action, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (e.at, e.actor, e.entity, e.entity_id, e.action, dump(e.before), dump(e.after)),
    )
