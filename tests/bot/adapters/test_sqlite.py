"""SQLite storage: WAL, migrations, and the audit chain detecting tampering on disk."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from bot.adapters.sqlite import (
    MIGRATIONS,
    Database,
    SqliteAuditRepository,
    StorageError,
    split_statements,
)
from bot.cli import main
from bot.domain.audit import AuditRecord, verify
from tests.harness.audit_writer import start_writers


def _config(tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(f'[bot]\ndatabase_path = "{db}"\nimage_dir = "{tmp_path / "img"}"\n')
    monkeypatch.setenv("HOMELAB_CONFIG", str(cfg))


async def _filled(path: Path, n: int = 5) -> tuple[Database, SqliteAuditRepository]:
    db = await Database.open(path)
    repo = SqliteAuditRepository(db)
    for i in range(n):
        await repo.append(AuditRecord(f"user{i}", "limits reset", f"user={i}", "ok", 1000.0 + i))
    return db, repo


async def test_open_uses_wal_and_applies_migrations_once(tmp_path: Path) -> None:
    """A new database is in WAL mode at the latest schema version; reopening changes nothing."""
    db = await Database.open(tmp_path / "sub" / "bot.sqlite3")
    assert await db.run(lambda c: db.journal_mode()) == "wal"
    assert await db.run(lambda c: db.schema_version()) == len(MIGRATIONS)
    await db.close()
    db = await Database.open(tmp_path / "sub" / "bot.sqlite3")
    rows = await db.run(lambda c: c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0])
    assert rows == len(MIGRATIONS)
    await db.close()


async def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    """A database from a newer bot is refused, naming the file and what to do."""
    path = tmp_path / "bot.sqlite3"
    await (await Database.open(path)).close()
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(StorageError, match="upgrade the bot"):
        await Database.open(path)


async def test_database_work_runs_off_the_event_loop(tmp_path: Path) -> None:
    """Every statement runs in a worker thread, never on the loop's thread."""
    db, _repo = await _filled(tmp_path / "bot.sqlite3", 1)
    loop_thread = threading.get_ident()
    seen = await db.run(lambda c: threading.get_ident())
    assert seen != loop_thread
    await db.close()


async def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    """Appends racing on the loop still form a single valid chain."""
    db, repo = await _filled(tmp_path / "bot.sqlite3", 0)
    await asyncio.gather(
        *(repo.append(AuditRecord("u", "a", str(i), "ok", float(i))) for i in range(30))
    )
    entries = await repo.entries()
    assert len(entries) == 30 and verify(entries, await repo.head()) == []
    await db.close()


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("UPDATE audit_log SET outcome = 'refused' WHERE seq = 3", "row 3: contents"),
        ("DELETE FROM audit_log WHERE seq = 2", "row 3: rows 2..2 are missing"),
        (
            "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
            "rows 7..7 are missing",
        ),
        (
            "UPDATE audit_log SET actor = CASE seq WHEN 2 THEN 'user2' ELSE 'user1' END,"
            " target = CASE seq WHEN 2 THEN 'user=2' ELSE 'user=1' END,"
            " at = CASE seq WHEN 2 THEN 1002.0 ELSE 1001.0 END,"
            " hash = CASE seq WHEN 2 THEN (SELECT hash FROM audit_log WHERE seq = 3)"
            " ELSE (SELECT hash FROM audit_log WHERE seq = 2) END,"
            " prev_hash = CASE seq WHEN 2 THEN (SELECT prev_hash FROM audit_log WHERE seq = 3)"
            " ELSE (SELECT prev_hash FROM audit_log WHERE seq = 2) END WHERE seq IN (2, 3)",
            "row 2:",
        ),
    ],
    ids=["edited", "deleted", "deleted-last", "reordered"],
)
async def test_audit_verify_cli_names_the_tampered_row(
    tmp_path: Path,
    tamper: str,
    named: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`homelab-bot audit verify` exits 1 and names the row that was edited, deleted or moved."""
    path = tmp_path / "bot.sqlite3"
    db, _ = await _filled(path)
    await db.close()
    _config(tmp_path, path, monkeypatch)
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
    with sqlite3.connect(path) as c:
        c.execute(tamper)
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and named in out


async def test_audit_tail_cli_shows_latest_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`homelab-bot audit tail -n 3` prints the latest entries (its own start among them)."""
    path = tmp_path / "bot.sqlite3"
    db, _ = await _filled(path)
    await db.close()
    _config(tmp_path, path, monkeypatch)
    assert await asyncio.to_thread(main, ["audit", "tail", "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "user3" in out and "user4" in out and "user2" not in out


# A later migration of the kind that broke a naive split on ';': a trigger, a comment and a
# string literal holding semicolons.
TRIGGER_MIGRATION = """
CREATE TABLE notes (
    id    INTEGER PRIMARY KEY,
    body  TEXT    NOT NULL,
    edits INTEGER NOT NULL DEFAULT 0
);
-- count edits; a trigger body holds statements of its own
CREATE TRIGGER notes_count_edits AFTER UPDATE OF body ON notes
BEGIN
    UPDATE notes SET edits = edits + 1 WHERE id = NEW.id;
END;
INSERT INTO notes (body) VALUES ('first; note');
"""


async def test_migration_with_a_trigger_is_applied_whole(tmp_path: Path) -> None:
    """A migration creating a trigger (semicolons in its body and in a string) applies intact."""
    db = await Database.open(tmp_path / "bot.sqlite3", migrations=(*MIGRATIONS, TRIGGER_MIGRATION))
    assert await db.run(lambda c: db.schema_version()) == len(MIGRATIONS) + 1

    def edit(c: sqlite3.Connection) -> tuple[str, int]:
        c.execute("UPDATE notes SET body = 'second; note' WHERE id = 1")
        return c.execute("SELECT body, edits FROM notes WHERE id = 1").fetchone()

    assert await db.run(edit) == ("second; note", 1)  # the trigger fired
    await db.close()


async def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    """A migration failing half-way is rolled back whole: no table, no trigger, no version."""
    path = tmp_path / "bot.sqlite3"
    broken = f"{TRIGGER_MIGRATION}\nINSERT INTO no_such_table VALUES (1);"
    with pytest.raises(StorageError, match="no_such_table"):
        await Database.open(path, migrations=(*MIGRATIONS, broken))
    db = await Database.open(path)
    names = await db.run(
        lambda c: [r[0] for r in c.execute("SELECT name FROM sqlite_master").fetchall()]
    )
    assert "notes" not in names and "notes_count_edits" not in names
    assert await db.run(lambda c: db.schema_version()) == len(MIGRATIONS)
    await db.close()


def test_split_statements_refuses_an_unfinished_trigger() -> None:
    """A script ending inside a trigger body is refused, naming the unfinished statement."""
    with pytest.raises(ValueError, match=r"incomplete SQL statement.*CREATE TRIGGER t"):
        split_statements("CREATE TABLE a (x); CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;")


async def test_audit_verify_cli_exits_2_when_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit verify` refused (its own audit row cannot be written) exits 2, not 1 (tampered)."""
    path = tmp_path / "bot.sqlite3"
    db, _ = await _filled(path)
    await db.close()
    _config(tmp_path, path, monkeypatch)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # e.g. a running bot's write, held too long
    try:
        assert await asyncio.to_thread(main, ["audit", "verify"]) == 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    captured = capsys.readouterr()
    assert "audit log cannot be written" in captured.out and "TAMPERED" not in captured.out
    assert "was not checked" in captured.err
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0  # lock gone: intact again


def _forge(path: Path) -> None:
    """Edit row 2 on disk, then recompute the whole unkeyed chain and the head, as an attacker."""
    from bot.domain.audit import GENESIS, seal

    with sqlite3.connect(path) as c:
        c.execute("UPDATE audit_log SET outcome = 'refused' WHERE seq = 2")
        prev = GENESIS
        rows = c.execute(
            "SELECT seq, at, actor, action, target, outcome FROM audit_log ORDER BY seq"
        )
        for seq, at, actor, action, target, outcome in rows.fetchall():
            e = seal(AuditRecord(actor, action, target, outcome, at), seq, prev)
            c.execute(
                "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, e.hash, seq)
            )
            prev = e.hash
        c.execute("UPDATE audit_head SET hash = ?", (prev,))


@pytest.mark.parametrize("keyed", [True, False])
async def test_an_audit_key_detects_a_recomputed_chain(
    tmp_path: Path, keyed: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [bot.audit] key_file the forged, recomputed chain fails verify; without, it passes."""
    path = tmp_path / "bot.sqlite3"
    key_file = tmp_path / "audit.key"
    key_file.write_text("0123456789abcdef0123456789abcdef\n")
    db = await Database.open(path)
    repo = SqliteAuditRepository(db, key_file.read_text().strip().encode() if keyed else b"")
    for i in range(4):
        await repo.append(AuditRecord(f"user{i}", "limits reset", f"user={i}", "ok", 1000.0 + i))
    await db.close()
    _config(tmp_path, path, monkeypatch)
    if keyed:
        cfg = tmp_path / "homelab.toml"
        cfg.write_text(cfg.read_text() + f'[bot.audit]\nkey_file = "{key_file}"\n')
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
    assert ("keyed (HMAC-SHA256)" in capsys.readouterr().out) is keyed
    _forge(path)
    code = await asyncio.to_thread(main, ["audit", "verify"])
    out = capsys.readouterr().out
    if keyed:
        assert code == 1 and "row 1: contents do not match" in out, out
    else:
        assert code == 0, out  # the limit of an unkeyed chain (docs/bot.md)


def test_audit_key_settings_are_checked() -> None:
    """A short key, an unreadable key file, or both key and key_file are clear errors."""
    from pydantic import ValidationError

    from bot.settings import AuditSettings

    for bad, words in (
        ({"key": "short"}, "at least 16"),
        ({"key_file": "/nonexistent/audit.key"}, "cannot read key_file"),
        ({"key": "x" * 20, "key_file": "/etc/hostname"}, "not both"),
    ):
        with pytest.raises(ValidationError, match=words):
            AuditSettings(**bad)  # type: ignore[arg-type]
    assert AuditSettings(key="x" * 20).secret() == b"x" * 20  # type: ignore[arg-type]


async def _verify_while_running(
    path: Path, key: bytes, writers: list[subprocess.Popen[str]]
) -> int:
    """Snapshot and verify until every writer exited; how many snapshots saw new rows."""
    db = await Database.open(path, busy_timeout=10)
    repo = SqliteAuditRepository(db, key)
    grew, last = 0, -1
    try:
        while any(w.poll() is None for w in writers):
            entries, head = await repo.snapshot()
            assert verify(entries, head, key) == [], (len(entries), head)
            grew += len(entries) > last
            last = len(entries)
        assert len((await repo.snapshot())[0]) == 2000
    finally:
        await db.close()
    return grew


@pytest.mark.parametrize("key", ["", "0123456789abcdef0123456789abcdef"], ids=["plain", "keyed"])
def test_verify_beside_writers_never_raises_a_false_alarm(tmp_path: Path, key: str) -> None:
    """Snapshots taken while two other processes append always verify intact.

    Reading the entries and the head in two reads reported a head beyond the last entry read.
    """
    path = tmp_path / "bot.sqlite3"
    asyncio.run(asyncio.run(Database.open(path)).close())
    writers = start_writers(path, key.encode(), 1000)
    try:
        grew = asyncio.run(_verify_while_running(path, key.encode(), writers))
        assert grew >= 3, grew  # the writers really appended between the snapshots
    finally:
        for w in writers:
            assert w.wait(timeout=60) == 0


async def test_the_head_is_sealed_under_the_key(tmp_path: Path) -> None:
    """With a key the stored head carries its HMAC seal; without one the seal is empty."""
    from bot.domain.audit import head_seal

    key = b"0123456789abcdef0123456789abcdef"
    for k in (key, b""):
        db = await Database.open(tmp_path / f"bot{len(k)}.sqlite3")
        repo = SqliteAuditRepository(db, k)
        await repo.append(AuditRecord("ann", "sync", "", "ok", 1.0))
        head = await repo.head()
        assert head is not None and head.seal == head_seal(1, head.hash, k)
        assert (head.seal != "") is bool(k)
        await db.close()


def _truncate(path: Path, keep: int) -> None:
    """Delete every row after `keep` and point the head at the new last row, as an attacker."""
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
        (last,) = c.execute("SELECT hash FROM audit_log WHERE seq = ?", (keep,)).fetchone()
        c.execute("UPDATE audit_head SET seq = ?, hash = ?", (keep, last))


@pytest.mark.parametrize("keyed", [True, False])
async def test_truncation_with_the_head_rewritten(
    tmp_path: Path, keyed: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the last rows and rewriting the head: TAMPERED with a key, intact without.

    With a key the head stays unsealed once it was found unsealed, so later appends (verify's
    own audit rows among them) cannot seal the truncation in; without a key only an external
    copy of the head (printed by verify) shows it.
    """
    path = tmp_path / "bot.sqlite3"
    key_file = tmp_path / "audit.key"
    key_file.write_text("0123456789abcdef0123456789abcdef\n")
    key = key_file.read_text().strip().encode() if keyed else b""
    db = await Database.open(path)
    repo = SqliteAuditRepository(db, key)
    for i in range(6):
        await repo.append(AuditRecord(f"user{i}", "limits reset", f"user={i}", "ok", 1000.0 + i))
    await db.close()
    _config(tmp_path, path, monkeypatch)
    if keyed:
        cfg = tmp_path / "homelab.toml"
        cfg.write_text(cfg.read_text() + f'[bot.audit]\nkey_file = "{key_file}"\n')
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "Head: row 7, hash " in out, out  # row 7: verify's own audit row
    _truncate(path, 3)
    for n in range(2):  # a second verify appends after the first: still reported
        code = await asyncio.to_thread(main, ["audit", "verify"])
        out = capsys.readouterr().out
        if keyed:
            assert code == 1 and "the recorded head is not sealed with the key" in out, out
        else:
            # Undetectable without a key; verify's own rows (started, ok) follow row 3.
            assert code == 0 and f"Head: row {4 + 2 * n}, hash " in out, out


async def test_a_background_thread_checkpoints_so_commits_never_pay_for_it(
    tmp_path: Path,
) -> None:
    """The committing connection never checkpoints (wal_autocheckpoint=0); its own thread
    does, so within a few seconds the database file alone holds what was committed."""
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    assert await db.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
    repo = SqliteAuditRepository(db)
    for n in range(5):
        await repo.append(AuditRecord("ann", "sync", f"t{n}", "ok", float(n)))
    copy = tmp_path / "copy.sqlite3"
    for _ in range(40):
        await asyncio.sleep(0.1)
        copy.write_bytes(path.read_bytes())  # the main file only: no -wal beside the copy
        c = sqlite3.connect(copy)
        try:
            have = c.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
        except sqlite3.OperationalError:  # the table itself is not checkpointed yet
            have = 0
        finally:
            c.close()
        if have == 5:
            break
    assert have == 5
    await db.close()
    assert not any(t.name.startswith("sqlite-checkpoint") for t in threading.enumerate())
