"""`homelab-bot backup` and `restore` with real services: a backup taken while another
connection writes restores into fresh folders with the same row counts and a verifying audit
chain; the Prometheus snapshot passes `promtool tsdb list`; InfluxDB's portable backup is in
the archive; damaged archives and a database in use are refused with nothing changed."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.backup import (
    BackupSources,
    DatabaseInUse,
    PrometheusSource,
    RestoreError,
    create_backup,
    database_in_use,
    restore_backup,
)
from bot.adapters.sqlite import Database, SqliteAuditRepository
from bot.domain.audit import GENESIS, AuditRecord, head_seal, seal
from bot.domain.backup import DATABASE_NAME, MANIFEST_NAME, Manifest
from homelab.binaries import find_binary
from tests.harness.services import InfluxDB, Prometheus, free_port

pytestmark = pytest.mark.integration

KEY = b"audit-key-for-backup-tests"
BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _seed(path: Path, entries: int = 5, filler_rows: int = 2000) -> None:
    """A migrated bot database with `entries` audit rows (keyed) and some bulk."""

    async def work() -> None:
        db = await Database.open(path)
        repo = SqliteAuditRepository(db, KEY)
        for i in range(entries):
            await repo.append(AuditRecord("ann", "seed", f"t{i}", "ok", 1700000000.0 + i))
        await db.run(
            lambda c: c.executemany(
                "INSERT INTO alert_message (target, nonce, created_at, updated_at)"
                " VALUES ('admin', ?, 0, 0)",
                [(f"n{i}-" + "x" * 500,) for i in range(filler_rows)],
            )
        )
        await db.close()

    asyncio.run(work())


class Writer(threading.Thread):
    """Another connection committing, in each transaction, an audit entry (head moved with
    it) and a threshold row: a torn copy would show unequal counts or a broken chain."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.commits = 0

    def run(self) -> None:
        """Write until stopped."""
        c = sqlite3.connect(str(self.path), isolation_level=None, timeout=10)
        try:
            while not self.stop.is_set():
                c.execute("BEGIN IMMEDIATE")
                row = c.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                rec = AuditRecord("writer", "write", f"w{seq}", "ok", time.time())
                e = seal(rec, seq, prev, KEY)
                c.execute(
                    "INSERT INTO audit_log (seq, at, actor, action, target, outcome, prev_hash,"
                    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, rec.at, rec.actor, rec.action, rec.target, rec.outcome, prev, e.hash),
                )
                c.execute(
                    "UPDATE audit_head SET seq = ?, hash = ?, seal = ? WHERE id = 1",
                    (seq, e.hash, head_seal(seq, e.hash, KEY)),
                )
                c.execute(
                    "INSERT INTO alert_threshold (alertname, instance, value, set_by, set_at)"
                    " VALUES (?, '', 1, 'writer', 0)",
                    (f"a{seq}",),
                )
                c.execute("COMMIT")
                self.commits += 1
        finally:
            c.close()


def _counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as c:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        count = 'SELECT COUNT(*) FROM "{}"'.format
        return {n: c.execute(count(n)).fetchone()[0] for n in names}


def _config(tmp: Path, db: Path, *lines: str) -> Path:
    cfg = tmp / f"homelab-{db.parent.name}.toml"
    body = [
        "[bot]",
        f'database_path = "{db}"',
        f'image_dir = "{tmp / "img"}"',
        "[bot.audit]",
        f'key = "{KEY.decode()}"',
        "[bot.prometheus]",
        f'url = "http://127.0.0.1:{free_port()}"',
        *lines,
    ]
    cfg.write_text("\n".join(body) + "\n")
    return cfg


def _bot(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    return subprocess.run(
        [*BOT, "--config", str(cfg), *args], capture_output=True, text=True, env=env, timeout=120
    )


def _audit_actions(path: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(path)) as c:
        rows = c.execute("SELECT action, outcome FROM audit_log ORDER BY seq")
        return [(r[0], r[1]) for r in rows]


def test_backup_while_writing_restores_same_counts_and_chain(tmp_path: Path) -> None:
    """A backup taken while another connection commits restores into a fresh folder with the
    manifest's row counts, paired tables equal, and an audit chain that verifies."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, filler_rows=20000)
    writer = Writer(db)
    writer.start()
    try:
        while writer.commits < 20:
            time.sleep(0.01)
        before = writer.commits
        result = create_backup(BackupSources(db), tmp_path / "backups")
        during = writer.commits - before
        while writer.commits < before + during + 20:
            time.sleep(0.01)
    finally:
        writer.stop.set()
        writer.join()
    assert during > 0, "the writer must have committed while the backup ran"
    m = result.manifest
    assert m.row_counts["alert_threshold"] == m.row_counts["audit_log"] - 5
    assert 20 <= m.row_counts["alert_threshold"] < writer.commits
    fresh = tmp_path / "fresh" / "bot.sqlite3"
    restored = restore_backup(result.archive, fresh, KEY)
    assert restored.previous is None
    assert _counts(fresh) == {**m.row_counts}
    assert restored.row_counts == m.row_counts
    assert restored.audit_entries == m.row_counts["audit_log"]
    assert {"bot", "sqlite"} <= set(m.versions)


def test_cli_backup_and_restore_round_trip(tmp_path: Path) -> None:
    """`backup --json` then `restore --json` into fresh folders: exit 0, same rows, audited,
    and the database it replaced kept aside."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    cfg = _config(tmp_path, db)
    out = _bot(cfg, "backup", "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    archive = Path(answer["archive"])
    assert archive.parent == db.parent / "backups"
    assert answer["size"] == archive.stat().st_size
    assert {s["part"] for s in answer["skipped"]} == {"prometheus", "influxdb"}
    assert _audit_actions(db)[-1] == ("backup", "ok")

    target = tmp_path / "fresh" / "bot.sqlite3"
    _seed(target, entries=1, filler_rows=0)  # an older database that the restore replaces
    cfg2 = _config(tmp_path, target)
    out = _bot(cfg2, "restore", str(archive), "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert done["row_counts"] == answer["row_counts"]
    previous = Path(done["previous"])
    assert previous.name.startswith("bot.sqlite3.before-restore-")
    assert _counts(previous)["audit_log"] == 1
    assert _audit_actions(target)[-1] == ("restore", "ok")
    assert _counts(target)["audit_log"] == answer["row_counts"]["audit_log"] + 1
    verify = _bot(cfg2, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_plain_progress_lines_without_a_terminal(tmp_path: Path) -> None:
    """Without a terminal, each finished step is one plain line on stderr (no escapes)."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    out = _bot(_config(tmp_path, db), "backup", "--to", str(tmp_path / "b"))
    assert out.returncode == 0, out.stderr
    assert "sqlite: done" in out.stderr.splitlines()
    assert "\x1b[" not in out.stderr
    assert out.stdout.startswith(f"backup written: {tmp_path / 'b'}/homelab-backup-")


def test_prometheus_snapshot_in_archive_passes_promtool(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """With the admin API on, the archive holds a TSDB snapshot that `promtool tsdb list`
    reads, with the scraped series; restore unpacks it and says how to put it in place."""
    prom: Prometheus = start_service(
        Prometheus,
    )  # its own address is known once it runs: then it scrapes itself
    prom.reload(
        scrape_configs=[{"job_name": "self", "static_configs": [{"targets": [prom.address]}]}]
    )
    prom.wait_for('up{job="self"} == 1', lambda r: len(r) == 1)
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    result = create_backup(BackupSources(db, PrometheusSource(prom.url)), tmp_path / "b")
    m = result.manifest
    assert "prometheus" in m.parts()
    assert m.versions["prometheus"]
    assert not [s for s in m.skipped if s.part == "prometheus"]
    assert not list((prom.workdir / "data" / "snapshots").iterdir()), "left on Prometheus' disk"
    restored = restore_backup(result.archive, tmp_path / "fresh" / "bot.sqlite3", KEY)
    assert restored.unpacked is not None
    snapshot = restored.unpacked / "prometheus"
    listing = subprocess.run(
        [find_binary("promtool"), "tsdb", "list", str(snapshot)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(listing.stdout.strip().splitlines()) >= 2  # a header and at least one block
    assert any(str(snapshot) in line for line in restored.instructions)


def test_prometheus_admin_api_off_is_a_note_not_an_error(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """Without --web.enable-admin-api the backup goes on, and says how to enable it."""

    class NoAdmin(Prometheus):
        def argv(self) -> list[str]:
            return [a for a in super().argv() if a != "--web.enable-admin-api"]

    prom = start_service(NoAdmin)
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    result = create_backup(BackupSources(db, PrometheusSource(prom.url)), tmp_path / "b")
    (why,) = [s.reason for s in result.manifest.skipped if s.part == "prometheus"]
    assert "--web.enable-admin-api" in why
    assert "prometheus" not in result.manifest.parts()


def test_influxdb_portable_backup_in_archive(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """`influxd backup -portable` over the RPC port lands in the archive, checksummed; an
    unreachable RPC port is a note."""
    influx: InfluxDB = start_service(InfluxDB)
    influx.create_database("homelab")
    influx.write("homelab", "cpu,host=nas value=1 1700000000000000000")
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    rpc = f"127.0.0.1:{influx.rpc_port}"
    result = create_backup(BackupSources(db, influxdb_rpc=rpc), tmp_path / "b")
    m = result.manifest
    assert "influxdb" in m.parts(), m.skipped
    assert any(f.path.endswith(".manifest") for f in m.files if f.path.startswith("influxdb/"))
    assert m.versions["influxdb"]
    restored = restore_backup(result.archive, tmp_path / "fresh" / "bot.sqlite3", KEY)
    assert restored.unpacked is not None and (restored.unpacked / "influxdb").is_dir()
    assert any("influxd restore -portable" in line for line in restored.instructions)
    assert "InfluxDB: restored into a scratch influxd: databases ['homelab'] present" in (
        restored.instructions
    )

    dead = create_backup(BackupSources(db, influxdb_rpc=f"127.0.0.1:{free_port()}"), tmp_path / "c")
    (why,) = [s.reason for s in dead.manifest.skipped if s.part == "influxdb"]
    assert "RPC address 127.0.0.1:" in why and "not reachable" in why


def _flip(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x40
    archive.write_bytes(bytes(data))


def _truncate(archive: Path) -> None:
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])


@pytest.mark.parametrize("damage", [_flip, _truncate], ids=["flipped-byte", "truncated"])
def test_damaged_archive_changes_nothing(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    """A flipped byte or a truncated archive: exit 1, the problem named, the database and its
    folder as they were (but for the audit record of the refused restore)."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, filler_rows=3000)
    cfg = _config(tmp_path, db)
    archive = Path(json.loads(_bot(cfg, "backup", "--json").stdout)["archive"])
    damage(archive)
    target = tmp_path / "target" / "bot.sqlite3"
    _seed(target, entries=2, filler_rows=7)
    before_counts, before_files = _counts(target), sorted(os.listdir(target.parent))
    data = {name: tmp_path / "target" / name for name in ("prometheus", "influxdb")}
    for folder in data.values():
        folder.mkdir()
        (folder / "marker").write_text(folder.name)
    out = _bot(_config(tmp_path, target), "restore", str(archive),
               "--prometheus-data", str(data["prometheus"]),
               "--influxdb-data", str(data["influxdb"]))  # fmt: skip
    assert out.returncode == 1
    assert "does not verify; nothing was changed" in out.stderr
    assert "damaged or truncated" in out.stderr
    after = _counts(target)
    assert after == {**before_counts, "audit_log": before_counts["audit_log"] + 1}
    assert _audit_actions(target)[-1] == ("restore", "failed")
    assert sorted(os.listdir(target.parent)) == sorted([*before_files, *data])
    for folder in data.values():  # the data folders it was to replace: untouched
        assert [p.name for p in folder.iterdir()] == ["marker"]
    empty = tmp_path / "empty" / "bot.sqlite3"
    out = _bot(_config(tmp_path, empty), "restore", str(archive))
    assert out.returncode == 1
    assert not empty.parent.exists() or not list(empty.parent.iterdir())


def test_checksum_mismatch_is_named(tmp_path: Path) -> None:
    """An archive whose database differs from the manifest (repacked, gzip intact) names the
    file and both checksums; the target database is untouched."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    archive = create_backup(BackupSources(db), tmp_path / "b").archive
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    body = bytearray(members[DATABASE_NAME])
    body[-100] ^= 0x01
    members[DATABASE_NAME] = bytes(body)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    archive.write_bytes(gzip.compress(buf.getvalue()))
    target = tmp_path / "target" / "bot.sqlite3"
    with pytest.raises(RestoreError) as caught:
        restore_backup(archive, target, KEY)
    assert caught.value.problems[0].startswith(f"{DATABASE_NAME}: SHA-256 ")
    assert not target.exists()
    assert Manifest.from_json(members[MANIFEST_NAME].decode()).row_counts


def test_restore_refused_while_database_in_use(tmp_path: Path) -> None:
    """While another process has the database open (the bot), restore refuses (exit 2) and
    leaves it alone but for the audit record of the refusal; once closed, restore goes on."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    archive = create_backup(BackupSources(db), tmp_path / "b").archive
    target = tmp_path / "target" / "bot.sqlite3"
    _seed(target, entries=3, filler_rows=1)
    before = _counts(target)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys; from pathlib import Path; from bot.adapters.sqlite import "
            "Database\nasync def main():\n db = await Database.open(Path(sys.argv[1]))\n"
            " print('open', flush=True); sys.stdin.read(); await db.close()\nasyncio.run(main())",
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        assert database_in_use(target)
        out = _bot(_config(tmp_path, target), "restore", str(archive))
        assert out.returncode == 2, out.stderr
        assert "is open in another process (is the bot running?)" in out.stderr
        with pytest.raises(DatabaseInUse):
            restore_backup(archive, target, KEY)
    finally:
        holder.communicate("", timeout=30)
    assert _counts(target) == {**before, "audit_log": before["audit_log"] + 1}
    assert _audit_actions(target)[-1] == ("restore", "refused")
    assert not [p for p in target.parent.iterdir() if "before-restore" in p.name]
    assert not database_in_use(target)
    restore_backup(archive, target, KEY)
    assert _counts(target)["audit_log"] == 5


def test_missing_archive_is_not_found(tmp_path: Path) -> None:
    """Restoring an archive that does not exist exits 3 and creates nothing."""
    db = tmp_path / "live" / "bot.sqlite3"
    out = _bot(_config(tmp_path, db), "restore", str(tmp_path / "nope.tar.gz"))
    assert out.returncode == 3
    assert "no such archive" in out.stderr
    assert not db.exists()


def test_progress_bars_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal, rich draws a bar per step; stdout keeps the plain answer."""
    import pty

    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    proc = subprocess.run(
        [*BOT, "--config", str(_config(tmp_path, db)), "backup"],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        env={**env, "TERM": "xterm", "COLUMNS": "80"},
        timeout=120,
    )
    os.close(slave)
    screen = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(master, 65536):
            screen += chunk
    os.close(master)
    assert proc.returncode == 0
    text = screen.decode(errors="replace")
    assert "sqlite" in text and "100%" in text and "\u2501" in text  # rich's bar
    assert "sqlite: done" not in text
    assert proc.stdout.startswith("backup written: ")


def test_tampered_audit_chain_or_wrong_key_refuses_restore(tmp_path: Path) -> None:
    """A database whose audit chain does not verify (a row edited, or another key) is not
    put in place: restore names the broken row."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    archive = create_backup(BackupSources(db), tmp_path / "a").archive
    target = tmp_path / "target" / "bot.sqlite3"
    with pytest.raises(RestoreError) as caught:
        restore_backup(archive, target, b"another key")
    assert "audit chain: row 1: contents do not match its hash (edited)" in caught.value.problems
    with contextlib.closing(sqlite3.connect(db)) as c:
        c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        c.commit()
    tampered = create_backup(BackupSources(db), tmp_path / "b").archive
    with pytest.raises(RestoreError) as caught:
        restore_backup(tampered, target, KEY)
    assert caught.value.problems == ["audit chain: row 2: contents do not match its hash (edited)"]
    assert not target.exists()


def test_backup_without_a_database_fails_and_creates_none(tmp_path: Path) -> None:
    """No database at [bot] database_path: exit 1 naming it, and no database is created."""
    db = tmp_path / "live" / "bot.sqlite3"
    out = _bot(_config(tmp_path, db), "backup", "--to", str(tmp_path / "b"))
    assert out.returncode == 1
    assert f"the bot database {db} does not exist" in out.stderr
    assert not db.exists()


def test_a_failed_database_swap_puts_the_data_folders_back(
    tmp_path: Path, start_service: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prometheus' folder is swapped first, the database last: when the database's rename
    fails, the folder is put back as it was and nothing is left beside it. An archive
    without the part a folder is named for is refused before anything."""
    import bot.adapters.backup as backup_module

    prom: Prometheus = start_service(Prometheus)
    prom.reload(
        scrape_configs=[{"job_name": "self", "static_configs": [{"targets": [prom.address]}]}]
    )
    prom.wait_for('up{job="self"} == 1', lambda r: len(r) == 1)  # an empty TSDB has no file
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    result = create_backup(BackupSources(db, PrometheusSource(prom.url)), tmp_path / "b")
    assert "prometheus" in result.manifest.parts()
    target = tmp_path / "target" / "bot.sqlite3"
    _seed(target, entries=1, filler_rows=0)
    data = tmp_path / "target" / "prometheus"
    data.mkdir()
    (data / "marker").write_text("old")
    real = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst) == target:
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(backup_module.os, "replace", failing)
    with pytest.raises(RestoreError, match="cannot put the restored files in place"):
        restore_backup(result.archive, target, KEY, prometheus_data=data)
    monkeypatch.setattr(backup_module.os, "replace", real)
    assert [p.name for p in data.iterdir()] == ["marker"]
    assert sorted(p.name for p in data.parent.iterdir()) == ["bot.sqlite3", "prometheus"]
    assert _counts(target)["audit_log"] == 1

    bare = create_backup(BackupSources(db), tmp_path / "c")
    with pytest.raises(RestoreError, match="holds no prometheus backup to put in"):
        restore_backup(bare.archive, target, KEY, prometheus_data=data)


def _python_without_data_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """tarfile as Python 3.11.0-3.11.3 has it (Debian bookworm's python3 is 3.11.2, the
    container image's): no data_filter, and extractall() takes no `filter` argument."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    original = tarfile.TarFile.extractall

    def extractall(self: tarfile.TarFile, path: Any = ".", members: Any = None, *,
                   numeric_owner: bool = False, **kwargs: Any) -> None:  # fmt: skip
        if kwargs:
            raise TypeError(f"extractall() got an unexpected keyword argument {next(iter(kwargs))}")
        original(self, path, members, numeric_owner=numeric_owner)

    monkeypatch.setattr(tarfile.TarFile, "extractall", extractall)


def test_restore_on_a_python_without_tar_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Python without tarfile's data filter a backup restores, and an archive with a
    member outside the destination or a link is refused as damaged, nothing written outside."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    archive = create_backup(BackupSources(db), tmp_path / "b").archive
    _python_without_data_filter(monkeypatch)
    target = tmp_path / "target" / "bot.sqlite3"
    restored = restore_backup(archive, target, KEY)
    assert _counts(target) == restored.row_counts

    for name, kind in (("../escaped", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            tar.addfile(info, io.BytesIO(b""))
        bad = tmp_path / f"bad-{kind.decode()}.tar.gz"
        bad.write_bytes(gzip.compress(buf.getvalue()))
        other = tmp_path / f"other-{kind.decode()}" / "bot.sqlite3"
        with pytest.raises(RestoreError) as caught:
            restore_backup(bad, other, KEY)
        assert "damaged or truncated" in caught.value.problems[0], caught.value.problems
        assert not (other.parent.parent / "escaped").exists()
