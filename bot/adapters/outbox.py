"""The alert outbox in SQLite (migration 3): state changes in, messages and episodes out.

Every write is one transaction committed before the call returns, so the webhook receiver
answers 200 only for rows that survive a crash, and the delivery worker can be killed at any
point and pick up where it left off.

Example::

    outbox = SqliteOutbox(db)
    stored, duplicates = await outbox.enqueue([event], time.time())
    rows = await outbox.pending(time.time(), limit=100)
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.adapters.sqlite import Database
from bot.services.ports import (
    AlertMessageRecord,
    AlertRecord,
    OutboxEvent,
    OutboxRow,
    OutboxStats,
    OutboxUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
# One enqueue call waiting for its transaction: its events, its clock, its answer.
_Queued = tuple[list[OutboxEvent], float, "asyncio.Future[tuple[int, int]]"]

_ANNOTATIONS = ("acked_by", "acked_at", "silence_id", "silenced_by", "silenced_until")
_RECORD = (
    "SELECT fingerprint, starts_at, status, alert, context, message, position, acked_by, "
    "acked_at, silence_id, silenced_by, silenced_until FROM alert_state"
)


class SqliteOutbox:
    """The outbox, the episodes (alert_state) and the messages (alert_message)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queued: list[_Queued] = []
        self._committer: asyncio.Task[None] | None = None

    async def _tx(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        try:
            return await self.db.transact(fn)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxUnavailable(f"cannot {what} in {self.db.path}: {exc}") from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        try:
            return await self.db.run(fn)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxUnavailable(f"cannot {what} in {self.db.path}: {exc}") from exc

    async def enqueue(self, events: Sequence[OutboxEvent], now: float) -> tuple[int, int]:
        """Store new events, committed before this returns; (stored, duplicates).

        Group commit: calls that arrive while a transaction is under way wait for the next
        one, which stores all of them at once and answers each with its own counts. Under a
        burst of notifications that is one trip to the database thread for many requests
        instead of one each; nobody returns before the transaction holding its rows commits,
        and a failed transaction fails every call in it (none of their rows is stored).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._queued.append((list(events), now, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        return await asyncio.shield(done)

    async def _commit_queued(self) -> None:
        """Commit what is queued, one transaction per round, until nothing is left."""
        while self._queued:
            batch, self._queued = self._queued, []

            def work(c: sqlite3.Connection, batch: list[_Queued] = batch) -> list[tuple[int, int]]:
                return [_insert(c, events, now) for events, now, _ in batch]

            try:
                counts = await self._tx(work, "store alerts")
            except OutboxUnavailable as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            except asyncio.CancelledError:
                # Nobody will commit what is queued: its callers must not wait forever.
                for _, _, fut in batch + self._queued:
                    fut.cancel()
                self._queued = []
                raise
            except Exception:
                # Not the storage: one call's rows cannot be stored. Commit each call on its
                # own, so only that call fails and the loop goes on for the queued ones.
                await self._commit_one_by_one(batch)
                continue
            for (_, _, fut), result in zip(batch, counts, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def _commit_one_by_one(self, batch: list[_Queued]) -> None:
        """Commit each call of a failed group in its own transaction; failures fail only it."""
        for events, now, fut in batch:

            def work(c: sqlite3.Connection, events: list[OutboxEvent] = events,
                     now: float = now) -> tuple[int, int]:  # fmt: skip
                return _insert(c, events, now)

            try:
                result = await self._tx(work, "store alerts")
            except asyncio.CancelledError:
                for _, _, f in batch + self._queued:
                    f.cancel()
                self._queued = []
                raise
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                continue
            if not fut.done():
                fut.set_result(result)

    async def pending(self, now: float, limit: int, after: int = 0) -> list[OutboxRow]:
        """Undelivered rows after id `after`, oldest first; held rows stop their alert's queue.

        A held row keeps every later row of the same alert (fingerprint) back too, so an
        alert's state changes are delivered in the order they happened. Held alerts are left
        out in the query itself, so a batch's worth of them cannot hide the rows behind them.
        """

        def work(c: sqlite3.Connection) -> list[OutboxRow]:
            rows = c.execute(
                "SELECT id, dedupe_key, fingerprint, status, starts_at, alert, context,"
                " received_at, attempts, next_attempt FROM alert_outbox"
                " WHERE state = 'pending' AND id > ? AND fingerprint NOT IN"
                " (SELECT fingerprint FROM alert_outbox WHERE state = 'pending'"
                " AND next_attempt > ?) ORDER BY id LIMIT ?",
                (after, now, limit),
            ).fetchall()
            out: list[OutboxRow] = []
            held: set[str] = set()
            for r in rows:
                if r[2] in held or r[9] > now:
                    held.add(r[2])
                    continue
                out.append(
                    OutboxRow(
                        id=r[0],
                        event=OutboxEvent(r[1], r[2], r[3], r[4], r[5], r[6]),
                        received_at=r[7],
                        attempts=r[8],
                    )
                )
            return out

        return await self._read(work, "read the outbox")

    async def held(self, now: float, limit: int) -> list[OutboxEvent]:
        """Undelivered rows waiting for a retry, the first of each alert (its destination
        waits with it): one alert's many held rows cannot crowd the others out of `limit`."""
        rows = await self._read(
            lambda c: c.execute(
                "SELECT dedupe_key, fingerprint, status, starts_at, alert, context"
                " FROM alert_outbox WHERE id IN (SELECT MIN(id) FROM alert_outbox"
                " WHERE state = 'pending' AND next_attempt > ? GROUP BY fingerprint)"
                " ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall(),
            "read the outbox",
        )
        return [OutboxEvent(*r) for r in rows]

    async def next_due(self, now: float) -> float | None:
        """When the earliest row held for a retry after `now` falls due (None when none is)."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT MIN(next_attempt) FROM alert_outbox"
                " WHERE state = 'pending' AND next_attempt > ?",
                (now,),
            ).fetchone(),
            "read the outbox",
        )
        return None if row[0] is None else float(row[0])

    async def stats(self, now: float) -> OutboxStats:
        """Depth and oldest age of the undelivered rows, and the dead-lettered count."""

        def work(c: sqlite3.Connection) -> OutboxStats:
            depth, oldest = c.execute(
                "SELECT COUNT(*), MIN(received_at) FROM alert_outbox WHERE state = 'pending'"
            ).fetchone()
            dead = c.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'dead'").fetchone()
            age = max(0.0, now - oldest) if oldest is not None else 0.0
            return OutboxStats(int(depth), age, int(dead[0]))

        return await self._read(work, "read the outbox")

    async def record(self, fingerprint: str, starts_at: str) -> AlertRecord | None:
        """The episode's record, if any message was ever planned for it."""
        row = await self._read(
            lambda c: c.execute(
                f"{_RECORD} WHERE fingerprint = ? AND starts_at = ?", (fingerprint, starts_at)
            ).fetchone(),
            "read an alert",
        )
        return _record(row) if row else None

    async def records(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], AlertRecord]:
        """The records of many episodes (fingerprint, startsAt) in one read (absent: left out)."""
        wanted = sorted(set(keys))

        def work(c: sqlite3.Connection) -> dict[tuple[str, str], AlertRecord]:
            out: dict[tuple[str, str], AlertRecord] = {}
            for start in range(0, len(wanted), 400):  # SQLite's bound-parameter limit
                chunk = wanted[start : start + 400]
                fps = sorted({fp for fp, _ in chunk})
                marks = ",".join("?" * len(fps))
                for r in c.execute(f"{_RECORD} WHERE fingerprint IN ({marks})", fps):
                    rec = _record(r)
                    if (rec.fingerprint, rec.starts_at) in keys_set:
                        out[(rec.fingerprint, rec.starts_at)] = rec
            return out

        keys_set = set(wanted)
        return await self._read(work, "read alerts")

    async def latest(self, fingerprint: str) -> AlertRecord | None:
        """The latest episode of an alert (by startsAt)."""
        row = await self._read(
            lambda c: c.execute(
                f"{_RECORD} WHERE fingerprint = ? ORDER BY starts_at DESC LIMIT 1", (fingerprint,)
            ).fetchone(),
            "read an alert",
        )
        return _record(row) if row else None

    async def message(self, message: int) -> AlertMessageRecord | None:
        """One message row."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT id, target, channel_id, message_ids, nonce, dirty FROM alert_message"
                " WHERE id = ?",
                (message,),
            ).fetchone(),
            "read an alert message",
        )
        if row is None:
            return None
        ids = tuple(int(i) for i in json.loads(row[3])) if row[3] else ()
        return AlertMessageRecord(row[0], row[1], row[2], ids, row[4], bool(row[5]))

    async def cards(self, message: int) -> list[AlertRecord]:
        """The episodes one message shows, in position order."""
        rows = await self._read(
            lambda c: c.execute(
                f"{_RECORD} WHERE message = ? ORDER BY position", (message,)
            ).fetchall(),
            "read an alert message",
        )
        return [_record(r) for r in rows]

    async def plan_message(
        self, target: str, channel_id: int, nonce: str, rows: Sequence[OutboxRow], now: float
    ) -> int:
        """Create a message row for new episodes and attach them, before anything is sent.

        If the bot dies after this commit and before `sent`, the rows are still pending and
        point at this message: the worker resends it with the same nonce, which Discord
        answers with the message it already created.
        """

        def work(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO alert_message (target, channel_id, nonce, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (target, channel_id, nonce, now, now),
            )
            mid = int(cur.lastrowid or 0)
            for pos, r in enumerate(rows):
                e = r.event
                c.execute(
                    "INSERT INTO alert_state (fingerprint, starts_at, status, alert, context,"
                    " message, position) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (fingerprint, starts_at) DO UPDATE SET status = excluded.status,"
                    " alert = excluded.alert, context = excluded.context,"
                    " message = excluded.message, position = excluded.position",
                    (e.fingerprint, e.starts_at, e.status, e.alert, e.context, mid, pos),
                )
            return mid

        return await self._tx(work, "plan an alert message")

    async def sent(
        self, message: int, message_ids: Sequence[int], row_ids: Sequence[int], now: float
    ) -> None:
        """Record the Discord ids of a posted or edited message; its rows are delivered."""

        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE alert_message SET message_ids = ?, updated_at = ? WHERE id = ?",
                (json.dumps(list(message_ids)), now, message),
            )
            c.executemany(
                "UPDATE alert_outbox SET state = 'delivered', done_at = ? WHERE id = ?",
                [(now, i) for i in row_ids],
            )

        await self._tx(work, "record a delivery")

    async def update_states(self, rows: Sequence[OutboxRow]) -> None:
        """Apply rows' statuses to their episodes (a resolution, say) before the edit."""

        def work(c: sqlite3.Connection) -> None:
            for r in rows:
                e = r.event
                c.execute(
                    "UPDATE alert_state SET status = ?, alert = ? WHERE fingerprint = ?"
                    " AND starts_at = ?",
                    (e.status, e.alert, e.fingerprint, e.starts_at),
                )

        await self._tx(work, "update alerts")

    async def retry(self, row_ids: Sequence[int], next_attempt: float, error: str) -> None:
        """Count one more failed attempt and hold the rows until `next_attempt`."""
        await self._tx(
            lambda c: c.executemany(
                "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt = ?,"
                " last_error = ? WHERE id = ?",
                [(next_attempt, error[:500], i) for i in row_ids],
            ),
            "hold alerts for a retry",
        )

    async def dead(self, row_ids: Sequence[int], error: str, now: float) -> None:
        """Dead-letter rows that can never be delivered."""
        await self._tx(
            lambda c: c.executemany(
                "UPDATE alert_outbox SET state = 'dead', last_error = ?, done_at = ?,"
                " attempts = attempts + 1 WHERE id = ?",
                [(error[:500], now, i) for i in row_ids],
            ),
            "dead-letter alerts",
        )

    async def annotate(self, fingerprint: str, starts_at: str, **changes: Any) -> int | None:
        """Set ack/silence fields of an episode and mark its message dirty; its message id."""
        unknown = set(changes) - set(_ANNOTATIONS)
        if unknown:
            raise ValueError(f"not an annotation of an alert: {sorted(unknown)}")

        def work(c: sqlite3.Connection) -> int | None:
            sets = ", ".join(f"{k} = ?" for k in changes)
            c.execute(
                f"UPDATE alert_state SET {sets} WHERE fingerprint = ? AND starts_at = ?",  # noqa: S608 (names from _ANNOTATIONS)
                (*changes.values(), fingerprint, starts_at),
            )
            row = c.execute(
                "SELECT message FROM alert_state WHERE fingerprint = ? AND starts_at = ?",
                (fingerprint, starts_at),
            ).fetchone()
            if row is None or row[0] is None:
                return None
            c.execute("UPDATE alert_message SET dirty = 1 WHERE id = ?", (row[0],))
            return int(row[0])

        return await self._tx(work, "note an action on an alert")

    async def dirty_messages(self) -> list[int]:
        """Messages to re-render (an ack or a silence changed what they show)."""
        rows = await self._read(
            lambda c: c.execute(
                "SELECT id FROM alert_message WHERE dirty = 1 AND message_ids != '' ORDER BY id"
            ).fetchall(),
            "read alert messages",
        )
        return [int(r[0]) for r in rows]

    async def clean(self, message: int) -> None:
        """The message was re-rendered."""
        await self._tx(
            lambda c: c.execute("UPDATE alert_message SET dirty = 0 WHERE id = ?", (message,)),
            "update an alert message",
        )


    async def prune(self, before: float) -> int:
        """Delete delivered rows done before `before` (episodes and messages stay); how many.

        A repeat of a pruned state change is stored anew and edits its message in place, so
        nothing is posted twice; dead letters are kept for the operator.
        """
        return await self._tx(
            lambda c: c.execute(
                "DELETE FROM alert_outbox WHERE state = 'delivered' AND done_at < ?", (before,)
            ).rowcount,
            "prune the outbox",
        )


def _insert(c: sqlite3.Connection, events: Sequence[OutboxEvent], now: float) -> tuple[int, int]:
    """Insert one call's events (a duplicate dedupe key is skipped); (stored, duplicates)."""
    stored = 0
    for e in events:
        cur = c.execute(
            "INSERT INTO alert_outbox (dedupe_key, fingerprint, status, starts_at, alert,"
            " context, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (dedupe_key) DO NOTHING",
            (e.dedupe_key, e.fingerprint, e.status, e.starts_at, e.alert, e.context, now),
        )
        stored += cur.rowcount
    return stored, len(events) - stored


def _record(r: Sequence[Any]) -> AlertRecord:
    return AlertRecord(
        fingerprint=r[0],
        starts_at=r[1],
        status=r[2],
        alert=r[3],
        context=r[4],
        message=r[5],
        position=r[6],
        acked_by=r[7],
        acked_at=r[8],
        silence_id=r[9],
        silenced_by=r[10],
        silenced_until=r[11],
    )
