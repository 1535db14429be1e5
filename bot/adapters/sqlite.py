"""SQLite storage: WAL mode, versioned migrations applied at start, all work in a thread.

Example::

    db = await Database.open(Path("var/bot/homelab.sqlite3"))
    audit = SqliteAuditRepository(db)
    await audit.append(AuditRecord("ann", "sync", "", "ok", time.time()))
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot.domain.alerts.thresholds import Threshold
from bot.domain.audit import (
    GENESIS,
    AuditEntry,
    AuditHead,
    AuditRecord,
    head_problem,
    seal,
    sealed_head,
)
from bot.services.ports import AuditWriteError, ThresholdStoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Each migration runs once, in order, inside a transaction; never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE audit_log (
        seq       INTEGER PRIMARY KEY,
        at        REAL    NOT NULL,
        actor     TEXT    NOT NULL,
        action    TEXT    NOT NULL,
        target    TEXT    NOT NULL,
        outcome   TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL,
        hash      TEXT    NOT NULL
    );
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT    NOT NULL
    );
    """,
    # The head's HMAC under the audit key (empty without a key), so a truncated log shows.
    """
    ALTER TABLE audit_head ADD COLUMN seal TEXT NOT NULL DEFAULT '';
    """,
    # Alert delivery (docs/alerting.md, "The outbox"): one row per alert state change, unique on
    # fingerprint + status + startsAt so a cluster's duplicates and Alertmanager's retries
    # collapse into one; the messages each alert lives in; thresholds set from Discord.
    """
    CREATE TABLE alert_outbox (
        id           INTEGER PRIMARY KEY,
        dedupe_key   TEXT    NOT NULL UNIQUE,
        fingerprint  TEXT    NOT NULL,
        status       TEXT    NOT NULL,
        starts_at    TEXT    NOT NULL,
        alert        TEXT    NOT NULL,
        context      TEXT    NOT NULL,
        received_at  REAL    NOT NULL,
        state        TEXT    NOT NULL DEFAULT 'pending',
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL    NOT NULL DEFAULT 0,
        last_error   TEXT    NOT NULL DEFAULT '',
        done_at      REAL
    );
    CREATE INDEX alert_outbox_pending ON alert_outbox (state, id);
    CREATE TABLE alert_message (
        id          INTEGER PRIMARY KEY,
        target      TEXT    NOT NULL,
        channel_id  INTEGER NOT NULL DEFAULT 0,
        message_ids TEXT    NOT NULL DEFAULT '',
        nonce       TEXT    NOT NULL UNIQUE,
        dirty       INTEGER NOT NULL DEFAULT 0,
        created_at  REAL    NOT NULL,
        updated_at  REAL    NOT NULL
    );
    CREATE TABLE alert_state (
        fingerprint  TEXT    NOT NULL,
        starts_at    TEXT    NOT NULL,
        status       TEXT    NOT NULL,
        alert        TEXT    NOT NULL,
        context      TEXT    NOT NULL,
        message      INTEGER REFERENCES alert_message (id),
        position     INTEGER NOT NULL DEFAULT 0,
        resolved_at  TEXT    NOT NULL DEFAULT '',
        acked_by     TEXT    NOT NULL DEFAULT '',
        acked_at     REAL,
        silence_id   TEXT    NOT NULL DEFAULT '',
        silenced_by  TEXT    NOT NULL DEFAULT '',
        silenced_until REAL,
        PRIMARY KEY (fingerprint, starts_at)
    );
    CREATE INDEX alert_state_message ON alert_state (message);
    CREATE TABLE alert_threshold (
        alertname TEXT NOT NULL,
        instance  TEXT NOT NULL DEFAULT '',
        value     REAL NOT NULL,
        set_by    TEXT NOT NULL,
        set_at    REAL NOT NULL,
        PRIMARY KEY (alertname, instance)
    );
    """,
    # The secrets vault (docs/bot.md, "Secrets vault"): Fernet tokens, and the ids and
    # fingerprints of the keys that made them. Key material lives only in the key file.
    """
    CREATE TABLE vault_secret (
        name       TEXT PRIMARY KEY,
        token      TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE vault_key (
        id          TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        added_at    REAL NOT NULL,
        retired_at  REAL
    );
    """,
    # Scheduled reports (docs/reports.md, "Exactly once"): one row per period, claimed before
    # the send, so a restart neither sends a period twice nor forgets a missed one.
    """
    CREATE TABLE report_run (
        key        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        period_end REAL NOT NULL,
        claimed_at REAL NOT NULL,
        sent_at    REAL,
        error      TEXT NOT NULL DEFAULT ''
    );
    """,
    # Scheduled backups (docs/operations.md, "Scheduled backups"): one row per fire time,
    # claimed before the backup runs, so a restart never takes the same period twice.
    """
    CREATE TABLE backup_run (
        fire_time   REAL PRIMARY KEY,
        claimed_at  REAL NOT NULL,
        finished_at REAL,
        outcome     TEXT,
        archive     TEXT
    );
    """,
    # Projects and tasks (docs/projects.md): their current state as JSON, the append-only
    # event log every chart is computed from, and the reminders and digests already sent
    # (one row per idempotency key, claimed before the send).
    """
    CREATE TABLE project (
        id   INTEGER PRIMARY KEY,
        name TEXT    NOT NULL,
        data TEXT    NOT NULL
    );
    CREATE TABLE project_task (
        id         INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES project (id),
        data       TEXT    NOT NULL
    );
    CREATE INDEX project_task_project ON project_task (project_id);
    CREATE TABLE project_event (
        seq       INTEGER PRIMARY KEY,
        at        REAL    NOT NULL,
        actor     TEXT    NOT NULL,
        entity    TEXT    NOT NULL,
        entity_id INTEGER NOT NULL,
        action    TEXT    NOT NULL,
        before    TEXT    NOT NULL,
        after     TEXT    NOT NULL
    );
    CREATE TRIGGER project_event_append_only BEFORE UPDATE ON project_event
    BEGIN SELECT RAISE(ABORT, 'project_event is append-only'); END;
    CREATE TRIGGER project_event_no_delete BEFORE DELETE ON project_event
    BEGIN SELECT RAISE(ABORT, 'project_event is append-only'); END;
    CREATE TABLE project_notice (
        key     TEXT PRIMARY KEY,
        sent_at REAL NOT NULL
    );
    """,
    # Live dashboards (docs/dashboards.md): where each is shown, what it shows, how often,
    # and the digest of the data it last showed (an edit only when that changes).
    """
    CREATE TABLE dashboard (
        id           INTEGER PRIMARY KEY,
        channel_id   INTEGER NOT NULL,
        message_ids  TEXT    NOT NULL DEFAULT '[]',
        params       TEXT    NOT NULL,
        interval     INTEGER NOT NULL,
        digest       TEXT    NOT NULL DEFAULT '',
        created_by   TEXT    NOT NULL,
        created_at   REAL    NOT NULL,
        refreshed_at REAL
    );
    """,
)


# How long a statement waits for another connection's write lock (another bot process, or
# `homelab-bot audit ...` beside a running bot) before failing. Audit writes sit on the path of
# Discord interactions, so the wait must stay well inside Discord's 3 s; the bot's own writes
# take milliseconds, so a second is ample.
BUSY_TIMEOUT_SECONDS = 1.0
# How often the checkpointer moves the WAL into the database file (see Checkpointer).
CHECKPOINT_SECONDS = 1.0


def immediate(c: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn(c)` inside BEGIN IMMEDIATE ... COMMIT, rolled back when it raises."""
    c.execute("BEGIN IMMEDIATE")
    try:
        out = fn(c)
        c.execute("COMMIT")
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise
    return out


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements.

    Semicolons inside string literals, comments and trigger bodies (`BEGIN ...; END`) do not
    end a statement: SQLite's own `complete_statement` decides where one ends.
    """
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        rest = pending[:-1].strip()
        raise ValueError(f"incomplete SQL statement at the end of the script: {rest!r}")
    return statements


class StorageError(Exception):
    """The database cannot be opened or migrated; the message names the file."""


class Database:
    """One SQLite connection used from worker threads, one statement batch at a time."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS
    ) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self._migrations = tuple(migrations)
        self._checkpointer: Checkpointer | None = None

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        migrations: Sequence[str] = MIGRATIONS,
    ) -> Database:
        """Open (creating folders), switch to WAL, apply pending migrations.

        `busy_timeout` bounds how long a statement waits on another connection's lock.
        """
        return await asyncio.to_thread(cls._open_sync, path, busy_timeout, migrations)

    @classmethod
    def _open_sync(cls, path: Path, busy_timeout: float, migrations: Sequence[str]) -> Database:
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout
            )
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            db = cls(path, conn, migrations)
            db._migrate()
            if str(path) != ":memory:":
                # Checkpoints fsync the database file, which can take tens of milliseconds: a
                # commit that crossed the threshold would pay for it while every webhook answer
                # waits on it. A thread with its own connection checkpoints instead.
                conn.execute("PRAGMA wal_autocheckpoint=0")
                db._checkpointer = Checkpointer(path, busy_timeout)
                db._checkpointer.start()
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StorageError(
                f"cannot open the bot database {path}: {exc} "
                "(check [bot] database_path and the folder's permissions)"
            ) from exc
        return db

    @classmethod
    def open_blocking(cls, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> Database:
        """`open` for code that runs outside an event loop (the vault's command line)."""
        return cls._open_sync(path, busy_timeout, MIGRATIONS)

    def run_blocking(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`run` in the calling thread, serialised with other calls (outside an event loop)."""
        return self._locked(fn)

    def _migrate(self) -> None:
        c = self._conn
        c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = c.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        migrations = self._migrations
        if current > len(migrations):
            raise StorageError(
                f"{self.path} has schema version {current}, newer than this bot "
                f"({len(migrations)}); upgrade the bot or restore an older database"
            )
        for version in range(current + 1, len(migrations) + 1):
            # Not executescript: it commits first, so a failing migration would be half applied.
            statements = split_statements(migrations[version - 1])
            c.execute("BEGIN IMMEDIATE")
            try:
                for stmt in statements:
                    c.execute(stmt)
                c.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            log.info("database %s migrated to version %d", self.path, version)

    def busy_timeout(self) -> float:
        """Seconds a statement waits on another connection's lock (blocking: call through `run`)."""
        return int(self._conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000

    def schema_version(self) -> int:
        """The applied schema version (blocking: call through `run`)."""
        return int(self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def journal_mode(self) -> str:
        """SQLite's journal mode (blocking: call through `run`)."""
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in a worker thread, serialised with other calls."""
        return await asyncio.to_thread(self._locked, fn)

    async def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`run(fn)` inside one write transaction (BEGIN IMMEDIATE): committed when `fn`
        returns, rolled back when it raises."""
        return await self.run(lambda c: immediate(c, fn))

    async def transact_or(
        self, fn: Callable[[sqlite3.Connection], T], error: type[Exception], what: str
    ) -> T:
        """`transact(fn)`; a database failure is raised as `error`, a sentence naming what was
        being done (`what`, e.g. "store the dashboard") and the file."""
        try:
            return await self.transact(fn)
        except (sqlite3.Error, OSError) as exc:
            raise error(f"cannot {what} in {self.path}: {exc}") from exc

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return fn(self._conn)

    def close_blocking(self) -> None:
        """`close` outside an event loop: the checkpointer's connection is closed too."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self._locked(lambda c: c.close())

    async def close(self) -> None:
        """Stop the checkpointer and close the connection."""
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        await asyncio.to_thread(self._locked, lambda c: c.close())


class Checkpointer(threading.Thread):
    """Checkpoints the WAL from its own connection, off the committing connection's path.

    PASSIVE checkpoints never wait for writers or readers, so commits go on meanwhile; the
    connection that commits has `wal_autocheckpoint=0`. The last connection to close
    checkpoints what is left, as SQLite always does.
    """

    def __init__(self, path: Path, busy_timeout: float, interval: float = CHECKPOINT_SECONDS):
        super().__init__(name=f"sqlite-checkpoint {path.name}", daemon=True)
        self.path = path
        self.busy_timeout = busy_timeout
        self.interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        """Checkpoint every `interval` seconds until stopped; a failure is logged once."""
        failed = False
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None)
        try:
            while not self._stopping.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    failed = False
                except sqlite3.Error as exc:
                    if not failed:
                        log.warning("cannot checkpoint %s: %s", self.path, exc)
                    failed = True
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop and wait for the thread (blocking)."""
        self._stopping.set()
        self.join()


class SqliteAuditRepository:
    """The audit hash chain in table audit_log, with its head in audit_head.

    With a `key`, entries are sealed with HMAC-SHA256 (see bot.domain.audit).
    """

    def __init__(self, db: Database, key: bytes = b"") -> None:
        self.db = db
        self._key = key

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Seal `record` after the current head and store it, in one transaction."""

        def work(c: sqlite3.Connection) -> AuditEntry:
            c.execute("BEGIN IMMEDIATE")
            try:
                # Chain from the recorded head, not the last row: a deleted tail stays visible.
                head = _head(c)
                seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
                entry = seal(record, seq, prev, self._key)
                c.execute(
                    "INSERT INTO audit_log"
                    " (seq, at, actor, action, target, outcome, prev_hash, hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        record.at,
                        record.actor,
                        record.action,
                        record.target,
                        record.outcome,
                        entry.prev_hash,
                        entry.hash,
                    ),
                )
                new = sealed_head(entry, self._key)
                problem = head_problem(head, self._key)
                if problem:
                    # Sealing the next head would seal a truncation in: an unsealed head stays
                    # unsealed, so `audit verify` keeps reporting it while the log goes on.
                    log.error("audit log %s: %s; see `homelab-bot audit verify`", self.db.path,
                              problem)  # fmt: skip
                    new = AuditHead(new.seq, new.hash, "")
                c.execute(
                    "INSERT INTO audit_head (id, seq, hash, seal) VALUES (1, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                    "seal = excluded.seal",
                    (new.seq, new.hash, new.seal),
                )
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            return entry

        try:
            return await self.db.run(work)
        except (sqlite3.Error, OSError) as exc:
            raise AuditWriteError(
                f"cannot append to the audit log in {self.db.path}: {exc}"
            ) from exc

    async def entries(self) -> Sequence[AuditEntry]:
        """Every entry, in storage (rowid) order."""
        return await self.db.run(
            lambda c: [_entry(r) for r in c.execute(f"{_SELECT} ORDER BY rowid").fetchall()]
        )

    async def head(self) -> AuditHead | None:
        """The recorded head: (seq, hash) of the last entry and its seal."""
        return await self.db.run(_head)

    async def snapshot(self) -> tuple[Sequence[AuditEntry], AuditHead | None]:
        """Every entry and the head, read in one transaction: one consistent snapshot.

        Two separate reads would let another process append in between, and `verify` would
        see a head beyond the last entry it read: a false alarm.
        """

        def work(c: sqlite3.Connection) -> tuple[list[AuditEntry], AuditHead | None]:
            c.execute("BEGIN")  # deferred: the first SELECT fixes the snapshot (WAL)
            try:
                entries = [_entry(r) for r in c.execute(f"{_SELECT} ORDER BY rowid").fetchall()]
                return entries, _head(c)
            finally:
                c.execute("COMMIT")

        return await self.db.run(work)

    async def tail(self, n: int) -> Sequence[AuditEntry]:
        """The latest `n` entries, oldest first."""
        rows = await self.db.run(
            lambda c: c.execute(f"{_SELECT} ORDER BY seq DESC LIMIT ?", (n,)).fetchall()
        )
        return [_entry(r) for r in reversed(rows)]


_SELECT = "SELECT seq, at, actor, action, target, outcome, prev_hash, hash FROM audit_log"


class SqliteThresholdStore:
    """Thresholds set from Discord in table alert_threshold; instance '' is the whole fleet."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def set(self, threshold: Threshold) -> None:
        """Store `threshold`, replacing the one for the same alert and instance."""
        t = threshold
        await self._run(
            lambda c: c.execute(
                "INSERT INTO alert_threshold (alertname, instance, value, set_by, set_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (alertname, instance) DO UPDATE SET"
                " value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
                (t.alertname, t.instance, t.value, t.set_by, t.set_at),
            ),
            "write",
        )

    async def clear(self, alertname: str, instance: str) -> bool:
        """Remove one threshold; False when there was none."""
        cursor = await self._run(
            lambda c: c.execute(
                "DELETE FROM alert_threshold WHERE alertname = ? AND instance = ?",
                (alertname, instance),
            ),
            "write",
        )
        return bool(cursor.rowcount)

    async def list(self) -> Sequence[Threshold]:
        """Every threshold, by alert and instance (the fleet-wide one first)."""
        rows = await self._run(
            lambda c: c.execute(
                "SELECT alertname, instance, value, set_by, set_at FROM alert_threshold"
                " ORDER BY alertname, instance"
            ).fetchall(),
            "read",
        )
        return [Threshold(str(r[0]), str(r[1]), float(r[2]), str(r[3]), float(r[4])) for r in rows]

    async def _run(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        try:
            return await self.db.run(fn)
        except (sqlite3.Error, OSError) as exc:
            raise ThresholdStoreError(
                f"cannot {what} the thresholds in {self.db.path}: {exc}"
            ) from exc


def _head(c: sqlite3.Connection) -> AuditHead | None:
    row = c.execute("SELECT seq, hash, seal FROM audit_head WHERE id = 1").fetchone()
    return AuditHead(int(row[0]), str(row[1]), str(row[2])) if row else None


def _entry(r: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(r[0]),
        record=AuditRecord(actor=r[2], action=r[3], target=r[4], outcome=r[5], at=float(r[1])),
        prev_hash=r[6],
        hash=r[7],
    )
