"""Backup and verified restore: one tar.gz with the bot's SQLite, a Prometheus TSDB snapshot,
an InfluxDB 1.x portable backup and manifest.json (sizes, SHA-256, versions, row counts).

tar.gz rather than zip: it keeps the file modes of the Prometheus snapshot and the InfluxDB
backup, streams (no central directory to seek to), is what `tar` on any server reads, and
gzip's CRC plus the manifest's SHA-256 catch a flipped byte or a truncated file.

Restore unpacks into a temporary folder beside the database (same filesystem, so the swap is
one atomic rename), verifies everything, and only then replaces the database, keeping the
previous one as `<db>.before-restore-<timestamp>`. It refuses while any process (the bot, a
console command) has the database open: it takes SQLite's exclusive lock, which needs every
other connection closed. The Prometheus snapshot and the InfluxDB backup are verified and
unpacked for the operator, who puts them in place (docs/operations.md).

Example::

    result = create_backup(BackupSources(Path("var/bot/homelab.sqlite3")), Path("backups"))
    restored = restore_backup(result.archive, Path("var/bot/homelab.sqlite3"), audit_key=b"")
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import homelab
from bot.adapters import backup_influx2 as influx2
from bot.adapters.backup_crypto import (
    SUFFIX,
    ChunkReader,
    DamagedArchive,
    WrongKey,
    decrypt_chunks,
    decrypt_file,
    encrypt_file,
    is_encrypted,
)
from bot.adapters.data_swap import stage, swap, unswap, users_of
from bot.adapters.vault import check_restored
from bot.domain.audit import AuditEntry, AuditHead, AuditRecord, verify
from bot.domain.backup import (
    DATABASE_NAME,
    INFLUXDB_DIR,
    MANIFEST_NAME,
    PROMETHEUS_DIR,
    Archive,
    BackupFailed,
    Manifest,
    ManifestError,
    ManifestFile,
    Skipped,
    Taken,
    archive_time,
    count_problems,
    file_problems,
    prune_plan,
)
from homelab.binaries import BinaryMissing, find_binary

log = logging.getLogger(__name__)

# step name, fraction done (0..1)
Progress = Callable[[str, float], None]

ADMIN_API_HINT = (
    "start Prometheus with --web.enable-admin-api (make run does; see docs/operations.md, "
    "'Prometheus admin API')"
)


class BackupError(BackupFailed):
    """The backup could not be written; the message says which part failed."""


class RestoreError(Exception):
    """The archive did not verify, or could not be put in place; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class DatabaseInUse(Exception):
    """Another process has the database (or a data folder to replace) open: restore refuses."""


@dataclass(frozen=True, slots=True)
class PrometheusSource:
    """Where Prometheus' HTTP API is, with the headers it needs (auth)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class BackupSources:
    """What to back up: the database, and Prometheus / InfluxDB when configured (else None)."""

    database_path: Path
    prometheus: PrometheusSource | None = None
    influxdb_rpc: str | None = None  # host:port of influxd's RPC (bind-address), e.g. 8088
    # Its HTTP API: a 2.x server (told by /ping) is backed up with `influx backup` instead.
    influxdb_url: str = ""
    influxdb_token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class BackupResult:
    """The archive written, its size, and its manifest."""

    archive: Path
    size: int
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What restore did: the database put in place, where the old one went, the rest."""

    database: Path
    previous: Path | None
    manifest: Manifest
    row_counts: Mapping[str, int]
    audit_entries: int
    unpacked: Path | None  # the Prometheus snapshot / InfluxDB backup, for the operator
    instructions: tuple[str, ...] = ()


def _quiet(step: str, fraction: float) -> None:
    """A Progress that reports nothing."""


def auth_headers(
    bearer_token: str = "", username: str = "", password: str = "", extra: Mapping[str, str] = {}
) -> dict[str, str]:
    """The headers for Prometheus' API: bearer or basic auth, and any extra ones."""
    headers = dict(extra)
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    elif username:
        raw = f"{username}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return headers


def sha256_file(path: Path) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stamp(at: float) -> str:
    """A UTC timestamp for file names, e.g. 20261203T141500Z."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


# -- SQLite -------------------------------------------------------------------------------------


def backup_sqlite(src: Path, dest: Path, progress: Progress = _quiet) -> dict[str, int]:
    """Copy the database through SQLite's online backup API; return each table's row count.

    The copy is one consistent snapshot even while other connections write: it is taken in
    one step, under one read transaction, which in WAL mode does not block the writers (a
    step-wise backup restarts whenever another connection writes, and under steady writes
    might never finish). The counts are taken from the copy, so they match it exactly.
    """
    if not src.exists():
        raise BackupError(f"the bot database {src} does not exist (check [bot] database_path)")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=5.0)
    target = sqlite3.connect(str(dest))
    try:

        def step(status: int, remaining: int, total: int) -> None:
            progress("sqlite", 1 - remaining / total if total else 1.0)

        source.backup(target, pages=-1, progress=step)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        counts = row_counts(target)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {src}: {exc}") from exc
    finally:
        target.close()
        source.close()
    progress("sqlite", 1.0)
    return counts


def _vault_keys(path: Path) -> tuple[str, ...]:
    """The vault key ids the secrets of the database at `path` are encrypted under."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            rows = conn.execute("SELECT DISTINCT key_id FROM vault_secret ORDER BY key_id")
        except sqlite3.OperationalError:  # a database from before the vault
            return ()
        return tuple(str(r[0]) for r in rows)


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """The number of rows of every table."""
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    # The names come from sqlite_master itself, quoted as identifiers.
    return {
        t: int(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0])  # noqa: S608
        for t in tables
    }


def database_in_use(path: Path) -> bool:
    """True when another connection has `path` open (SQLite's exclusive lock is refused)."""
    if not path.exists():
        return False
    conn = sqlite3.connect(str(path), timeout=0.2, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            return True
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


# -- Prometheus ---------------------------------------------------------------------------------


def _prom(source: PrometheusSource, method: str, path: str) -> tuple[int, dict[str, object]]:
    # [bot.prometheus] url is validated as http(s) (homelab.settings.http_url).
    req = urllib.request.Request(  # noqa: S310
        source.url.rstrip("/") + path, method=method, headers=dict(source.headers)
    )
    try:
        with urllib.request.urlopen(req, timeout=source.timeout) as resp:  # noqa: S310
            return int(resp.status), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        return int(exc.code), body


def prometheus_snapshot(
    source: PrometheusSource, dest: Path, progress: Progress = _quiet
) -> tuple[str, Skipped | None]:
    """Snapshot Prometheus' TSDB into `dest`; return (its version, None) or (version, why not).

    The snapshot is made by Prometheus in <storage.tsdb.path>/snapshots/<name>, so this works
    when that folder is readable here (same host); the snapshot is removed there afterwards.
    """
    version = ""
    try:
        status, info = _prom(source, "GET", "/api/v1/status/buildinfo")
        data = info.get("data") if status == 200 else None
        version = str(data.get("version", "")) if isinstance(data, dict) else ""
        status, body = _prom(source, "POST", "/api/v1/admin/tsdb/snapshot")
    except (OSError, ValueError) as exc:
        return version, Skipped("prometheus", f"{source.url} is not reachable: {exc}")
    if status != 200:
        error = str(body.get("error", f"HTTP {status}"))
        if "admin APIs disabled" in error or status == 404:
            return version, Skipped(
                "prometheus", f"the admin API of {source.url} is off ({error}): {ADMIN_API_HINT}"
            )
        return version, Skipped("prometheus", f"snapshot refused by {source.url}: {error}")
    data = body.get("data")
    name = str(data.get("name", "")) if isinstance(data, dict) else ""
    snapshot = _snapshot_dir(source, name)
    if snapshot is None or not snapshot.is_dir():
        return version, Skipped(
            "prometheus",
            f"Prometheus made snapshot {name!r}, but its folder is not readable here (is "
            "Prometheus on another host?); copy it from <storage.tsdb.path>/snapshots/",
        )
    progress("prometheus", 0.5)
    try:
        shutil.copytree(snapshot, dest)
    except OSError as exc:
        raise BackupError(f"cannot copy the Prometheus snapshot {snapshot}: {exc}") from exc
    with contextlib.suppress(OSError):
        shutil.rmtree(snapshot)  # hard links: it would pin old blocks on Prometheus' disk
    progress("prometheus", 1.0)
    return version, None


def _snapshot_dir(source: PrometheusSource, name: str) -> Path | None:
    """<storage.tsdb.path>/snapshots/<name>, resolved against Prometheus' working directory."""
    if not name or "/" in name:
        return None
    try:
        _, flags = _prom(source, "GET", "/api/v1/status/flags")
        _, runtime = _prom(source, "GET", "/api/v1/status/runtimeinfo")
    except (OSError, ValueError):
        return None
    fdata, rdata = flags.get("data"), runtime.get("data")
    if not isinstance(fdata, dict) or not isinstance(rdata, dict):
        return None
    tsdb = Path(str(fdata.get("storage.tsdb.path", "data/")))
    cwd = Path(str(rdata.get("CWD", "")))
    return (tsdb if tsdb.is_absolute() else cwd / tsdb) / "snapshots" / name


# -- InfluxDB -----------------------------------------------------------------------------------


def influxd_version() -> str:
    """influxd's version line, or '' when it is not installed."""
    try:
        out = subprocess.run(
            [find_binary("influxd"), "version"], capture_output=True, text=True, timeout=30
        )
    except (BinaryMissing, OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def influx_backup(rpc: str, dest: Path, progress: Progress = _quiet) -> Skipped | None:
    """`influxd backup -portable -host RPC DEST`; None when done, else why it was skipped."""
    try:
        exe = find_binary("influxd")
    except BinaryMissing as exc:
        return Skipped("influxdb", str(exc))
    host, _, port = rpc.rpartition(":")
    try:
        # influxd backup retries a refused connection for minutes: ask the port first.
        socket.create_connection((host, int(port)), timeout=3.0).close()
    except (OSError, ValueError) as exc:
        return Skipped(
            "influxdb",
            f"influxd's RPC address {rpc} is not reachable ({exc}): is InfluxDB running, with "
            "bind-address in influxdb.conf matching [bot.influxdb] rpc_address?",
        )
    progress("influxdb", 0.0)
    try:
        out = subprocess.run(
            [exe, "backup", "-portable", "-host", rpc, str(dest)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Skipped("influxdb", f"influxd backup failed: {exc}")
    if out.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        return Skipped(
            "influxdb",
            f"influxd backup -host {rpc} failed (is the RPC bind-address reachable? "
            f"[bot.influxdb] rpc_address): {tail[0]}",
        )
    progress("influxdb", 1.0)
    return None


# -- the archive --------------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for n in sorted(names):
            yield Path(dirpath) / n


def create_backup(
    sources: BackupSources,
    directory: Path,
    progress: Progress = _quiet,
    now: float | None = None,
    encryption_key: str = "",
) -> BackupResult:
    """Write `homelab-backup-<UTC time>.tar.gz` into `directory` and return what it holds.

    With `encryption_key` the archive is `.tar.gz.enc`, encrypted (bot.adapters.backup_crypto).
    """
    at = time.time() if now is None else now
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"homelab-backup-{stamp(at)}.tar.gz"
    if encryption_key:
        archive = archive.with_name(archive.name + SUFFIX)
    versions = {
        "bot": homelab.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    skipped: list[Skipped] = []
    with tempfile.TemporaryDirectory(dir=directory, prefix=".backup-") as tmp:
        staging = Path(tmp) / "content"
        staging.mkdir()
        counts = backup_sqlite(sources.database_path, staging / DATABASE_NAME, progress)
        vault_keys = _vault_keys(staging / DATABASE_NAME)
        if sources.prometheus is None:
            skipped.append(Skipped("prometheus", "no [bot.prometheus] url"))
        else:
            version, why = prometheus_snapshot(
                sources.prometheus, staging / PROMETHEUS_DIR, progress
            )
            if version:
                versions["prometheus"] = version
            if why:
                skipped.append(why)
        if sources.influxdb_rpc is None:
            skipped.append(Skipped("influxdb", "[bot.influxdb] is not enabled"))
        else:
            server = influx2.server_version(sources.influxdb_url) if sources.influxdb_url else ""
            if influx2.is_v2(server):
                versions["influxdb"] = server
                progress("influxdb", 0.0)
                why = influx2.backup(
                    sources.influxdb_url, sources.influxdb_token, staging / INFLUXDB_DIR, server
                )
                progress("influxdb", 1.0)
            else:
                versions["influxdb"] = influxd_version()
                why = influx_backup(sources.influxdb_rpc, staging / INFLUXDB_DIR, progress)
            if why:
                skipped.append(why)
        for s in skipped:
            log.debug("backup: %s skipped: %s", s.part, s.reason)
        entries = []
        paths = sorted(_files(staging))
        for i, p in enumerate(paths):
            entries.append(
                ManifestFile(p.relative_to(staging).as_posix(), p.stat().st_size, sha256_file(p))
            )
            progress("checksums", (i + 1) / len(paths))
        manifest = Manifest(
            created_at=at,
            files=tuple(entries),
            versions=versions,
            row_counts=counts,
            skipped=tuple(skipped),
            vault_keys=vault_keys,
        )
        (staging / MANIFEST_NAME).write_text(manifest.to_json())
        partial = Path(tmp) / archive.name
        try:
            plain = Path(tmp) / "plain.tar.gz" if encryption_key else partial
            with tarfile.open(plain, "w:gz") as tar:
                tar.add(staging / MANIFEST_NAME, arcname=MANIFEST_NAME)
                for i, e in enumerate(entries):
                    tar.add(staging / e.path, arcname=e.path, recursive=False)
                    progress("archive", (i + 1) / len(entries))
            if encryption_key:
                encrypt_file(plain, partial, encryption_key)
                progress("encrypt", 1.0)
            os.replace(partial, archive)  # a reader never sees a half-written archive
        except OSError as exc:
            raise BackupError(f"cannot write {archive}: {exc}") from exc
    return BackupResult(archive, archive.stat().st_size, manifest)


def unpack(archive: Path, into: Path, encryption_key: str = "") -> Manifest:
    """Unpack `archive` into `into` and check every file against the manifest.

    RestoreError lists what is wrong (a damaged or truncated archive, a file that does not
    match its checksum, a missing manifest, an encrypted archive and no key or the wrong one).
    """
    if not archive.is_file():
        raise FileNotFoundError(f"no such archive: {archive}")
    if is_encrypted(archive):
        if not encryption_key:
            raise RestoreError(
                [f"{archive.name} is encrypted: set [bot.backup] encryption_key (e.g. "
                 "\"secret:backup-key\") to the key it was written with"]
            )  # fmt: skip
        with tempfile.TemporaryDirectory(dir=into.parent, prefix=".decrypt-") as tmp:
            plain = Path(tmp) / "archive.tar.gz"
            try:
                decrypt_file(archive, plain, encryption_key)
            except (WrongKey, DamagedArchive) as exc:
                raise RestoreError([str(exc)]) from exc
            return _unpack_plain(plain, into, archive.name)
    return _unpack_plain(archive, into, archive.name)


def read_manifest(archive: Path, encryption_key: str = "") -> Manifest:
    """manifest.json of `archive`, its first member, read without unpacking the rest.

    RestoreError says why it cannot be read (encrypted without the key, damaged, not ours).
    """
    try:
        if is_encrypted(archive):
            if not encryption_key:
                raise RestoreError([f"{archive.name} is encrypted and no key is set"])
            raw: io.BufferedIOBase = io.BufferedReader(
                ChunkReader(decrypt_chunks(archive, encryption_key))
            )
        else:
            raw = archive.open("rb")
        with raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            member = tar.next()
            content = tar.extractfile(member) if member and member.name == MANIFEST_NAME else None
            if content is None:
                raise RestoreError([f"{archive.name} does not start with {MANIFEST_NAME}"])
            return Manifest.from_json(content.read().decode())
    except (WrongKey, DamagedArchive, ManifestError, tarfile.TarError, OSError, EOFError,
            zlib.error, UnicodeDecodeError) as exc:  # fmt: skip
        raise RestoreError([f"{archive.name}: {exc}"]) from exc


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Extract with tarfile's "data" filter, or, on a Python without it (3.11 before 3.11.4,
    as Debian bookworm's python3 3.11.2 in the container image), only plain files and
    directories with relative paths inside `into`; anything else fails as a damaged archive.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    members = tar.getmembers()
    for member in members:
        target = (root / member.name).resolve()
        if not (member.isreg() or member.isdir()) or member.name.startswith("/"):
            raise tarfile.TarError(f"{member.name}: not a plain file or directory")
        if target != root and root not in target.parents:
            raise tarfile.TarError(f"{member.name}: outside the destination")
        member.mode &= 0o755
    tar.extractall(into, members=members)  # noqa: S202 - every member checked above


def _unpack_plain(archive: Path, into: Path, name: str) -> Manifest:
    """unpack() of a plain tar.gz; `name` is the archive's name in messages."""
    try:
        # tarfile stops at the end-of-archive marker, before gzip's CRC and length: read the
        # whole stream first, so that a flipped byte or a cut-off end is named as such.
        with gzip.open(archive) as stream:
            while stream.read(1 << 20):
                pass
        with tarfile.open(archive, "r:gz") as tar:
            _extract(tar, into)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise RestoreError(
            [f"{name} is damaged or truncated: {type(exc).__name__}: {exc}"]
        ) from exc
    manifest_path = into / MANIFEST_NAME
    if not manifest_path.is_file():
        raise RestoreError([f"{name} has no {MANIFEST_NAME}: not a homelab backup"])
    try:
        manifest = Manifest.from_json(manifest_path.read_text())
    except (ManifestError, UnicodeDecodeError) as exc:
        raise RestoreError([str(exc)]) from exc
    found = {
        p.relative_to(into).as_posix(): (p.stat().st_size, sha256_file(p))
        for p in _files(into)
        if p != manifest_path
    }
    problems = file_problems(manifest, found)
    if problems:
        raise RestoreError(problems)
    return manifest


def verify_database(path: Path, manifest: Manifest, audit_key: bytes) -> tuple[dict[str, int], int]:
    """integrity_check, the manifest's row counts and the audit chain; (counts, entries)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            raise RestoreError([f"{DATABASE_NAME}: integrity_check: {'; '.join(integrity[:5])}"])
        counts = row_counts(conn)
        problems = count_problems(manifest.row_counts, counts)
        entries, head = _audit_snapshot(conn)
    except sqlite3.Error as exc:
        raise RestoreError([f"{DATABASE_NAME}: not a readable SQLite database: {exc}"]) from exc
    finally:
        conn.close()
    problems += [f"audit chain: {p}" for p in verify(entries, head, audit_key)]
    if problems:
        raise RestoreError(problems)
    return counts, len(entries)


def _audit_snapshot(conn: sqlite3.Connection) -> tuple[list[AuditEntry], AuditHead | None]:
    rows = conn.execute(
        "SELECT seq, at, actor, action, target, outcome, prev_hash, hash FROM audit_log"
        " ORDER BY rowid"
    ).fetchall()
    entries = [
        AuditEntry(
            int(r[0]),
            AuditRecord(str(r[2]), str(r[3]), str(r[4]), str(r[5]), float(r[1])),
            str(r[6]),
            str(r[7]),
        )
        for r in rows
    ]
    h = conn.execute("SELECT seq, hash, seal FROM audit_head WHERE id = 1").fetchone()
    return entries, (AuditHead(int(h[0]), str(h[1]), str(h[2])) if h else None)


def verify_snapshot(snapshot: Path) -> None:
    """`promtool tsdb list` on the Prometheus snapshot; RestoreError when it fails."""
    try:
        exe = find_binary("promtool")
    except BinaryMissing as exc:
        raise RestoreError([f"cannot check the Prometheus snapshot: {exc}"]) from exc
    out = subprocess.run(
        [exe, "tsdb", "list", str(snapshot)], capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise RestoreError(
            [f"promtool tsdb list on the Prometheus snapshot failed: {out.stderr.strip()}"]
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def verify_influx_backup(backup: Path, scratch: Path, timeout: float = 60.0) -> list[str]:
    """Restore the portable backup into a scratch influxd; return the databases it holds.

    The scratch instance listens on free loopback ports, keeps its meta/, data/ and wal/
    under `scratch` (its config and log beside it, so that `scratch` is a restored InfluxDB
    data folder once this returns) and is stopped before this returns. RestoreError when
    influxd refuses the backup or a database of its manifest is missing afterwards;
    BinaryMissing without influxd.
    """
    from homelab.stack import influx_config

    wanted: set[str] = set()
    for m in backup.glob("*.manifest"):
        try:
            doc = json.loads(m.read_text())
            wanted |= {str(f["database"]) for f in doc.get("files") or []}
        except (ValueError, KeyError, TypeError) as exc:
            raise RestoreError([f"influxdb/{m.name}: unreadable: {exc}"]) from exc
    exe = find_binary("influxd")  # BinaryMissing: the caller says it checked checksums only
    port, rpc = _free_port(), _free_port()
    scratch.mkdir(parents=True, exist_ok=True)
    conf = scratch.with_name(scratch.name + ".conf")
    conf.write_text(influx_config(scratch, port, rpc))
    log_file = scratch.with_name(scratch.name + ".log").open("wb")
    proc = subprocess.Popen([exe, "-config", str(conf)], stdout=log_file, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RestoreError(
                        ["cannot check the InfluxDB backup: the scratch influxd did not start"]
                    ) from None
                time.sleep(0.2)
        out = subprocess.run(
            [exe, "restore", "-portable", "-host", f"127.0.0.1:{rpc}", str(backup)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
            raise RestoreError([f"influxd restore of the InfluxDB backup failed: {tail[0]}"])
        query = urllib.parse.urlencode({"q": "SHOW DATABASES"})
        with urllib.request.urlopen(f"{base}/query?{query}", timeout=10) as resp:  # noqa: S310
            doc = json.loads(resp.read())
        series = doc["results"][0].get("series", [])
        have = {str(row[0]) for s in series for row in s.get("values", [])}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
    missing = sorted(wanted - have)
    if missing:
        raise RestoreError([f"InfluxDB backup: databases {missing} missing after a restore"])
    return sorted(wanted)


def restore_backup(
    archive: Path,
    database_path: Path,
    audit_key: bytes,
    unpack_to: Path | None = None,
    progress: Progress = _quiet,
    now: float | None = None,
    influxdb_rpc: str = "127.0.0.1:8088",
    encryption_key: str = "",
    prometheus_data: Path | None = None,
    influxdb_data: Path | None = None,
    vault_key_file: Path | None = None,
) -> RestoreResult:
    """Verify `archive` completely, then swap its database in for `database_path`.

    The previous database is kept as `<db>.before-restore-<UTC time>`. With `prometheus_data`
    (Prometheus' --storage.tsdb.path) and `influxdb_data` (the folder of InfluxDB's meta/,
    data/ and wal/) those are replaced too, by the verified snapshot and by the scratch
    influxd's restored folder, the previous ones kept as `<dir>.before-restore-<UTC time>`;
    the services must be stopped. Without them the Prometheus snapshot and InfluxDB backup are
    moved to `unpack_to` (default: a `restored-<time>` folder beside the archive) for the
    operator. RestoreError or DatabaseInUse: nothing was changed.
    """
    at = time.time() if now is None else now
    database_path.parent.mkdir(parents=True, exist_ok=True)
    targets = {PROMETHEUS_DIR: prometheus_data, INFLUXDB_DIR: influxdb_data}
    _refuse_in_use(database_path, targets)  # before minutes of verifying
    with tempfile.TemporaryDirectory(dir=database_path.parent, prefix=".restore-") as tmp:
        work = Path(tmp)
        progress("unpack", 0.0)
        manifest = unpack(archive, work, encryption_key)
        progress("unpack", 1.0)
        if "sqlite" not in manifest.parts():
            raise RestoreError([f"{archive.name} holds no {DATABASE_NAME}"])
        absent = [f"{archive.name} holds no {part} backup to put in {target}"
                  for part, target in targets.items()
                  if target is not None and part not in manifest.parts()]  # fmt: skip
        if absent:
            raise RestoreError(absent)
        counts, n_entries = verify_database(work / DATABASE_NAME, manifest, audit_key)
        # Whether the restored secrets can be read here: said, not refused (the audit log and
        # the rest are worth having back even when a key is lost).
        vault_note = check_restored(work / DATABASE_NAME, vault_key_file) if vault_key_file else ""
        progress("verify database", 1.0)
        if "prometheus" in manifest.parts():
            verify_snapshot(work / PROMETHEUS_DIR)
            progress("verify prometheus", 1.0)
        influx_note = ""
        scratch = work / "scratch-influxdb"
        if "influxdb" in manifest.parts() and influx2.manifests(work / INFLUXDB_DIR):
            problems, buckets = influx2.verify(work / INFLUXDB_DIR)
            if problems:
                raise RestoreError(problems)
            if influxdb_data is not None:
                raise RestoreError(
                    [f"{archive.name} holds an InfluxDB 2.x backup, which goes back through "
                     "InfluxDB's API (influx restore), not into a folder: leave out "
                     "--influxdb-data"]
                )  # fmt: skip
            influx_note = (
                f"InfluxDB 2.x: every file of the backup's manifest present, of its size and "
                f"whole; buckets {buckets}"
            )
            progress("verify influxdb", 1.0)
        elif "influxdb" in manifest.parts():
            try:
                dbs = verify_influx_backup(work / INFLUXDB_DIR, scratch)
                influx_note = f"InfluxDB: restored into a scratch influxd: databases {dbs} present"
            except BinaryMissing as exc:
                if influxdb_data is not None:
                    raise RestoreError(
                        [f"cannot restore InfluxDB into {influxdb_data}: {exc}"]
                    ) from exc
                influx_note = f"InfluxDB: checksums verified only, no scratch restore: {exc}"
            progress("verify influxdb", 1.0)
        _refuse_in_use(database_path, targets)  # again: it may have started meanwhile
        sources = {PROMETHEUS_DIR: work / PROMETHEUS_DIR, INFLUXDB_DIR: scratch}
        folders = {sources[part]: t for part, t in targets.items() if t is not None}
        try:
            plan = stage(folders, stamp(at))
        except OSError as exc:
            raise RestoreError([f"cannot copy the restored data beside its target: {exc}"]) from exc
        if influxdb_data is not None:  # its restored folder is staged: no copy for the operator
            shutil.rmtree(work / INFLUXDB_DIR, ignore_errors=True)
        try:
            placed = swap(plan)  # the data folders first, the database last
            try:
                result = _swap_rest(work, archive, database_path, manifest, counts, n_entries,
                                    influx_note, unpack_to, at, influxdb_rpc, placed)  # fmt: skip
            except OSError:
                unswap(plan)
                raise
            if vault_note:
                result = dataclasses.replace(
                    result, instructions=(vault_note, *result.instructions)
                )
        except OSError as exc:
            raise RestoreError([f"cannot put the restored files in place: {exc}"]) from exc
        progress("swap", 1.0)
        return result


def _refuse_in_use(database_path: Path, targets: Mapping[str, Path | None]) -> None:
    """DatabaseInUse when the database or a data folder to replace is open elsewhere."""
    if database_in_use(database_path):
        raise DatabaseInUse(
            f"{database_path} is open in another process (is the bot running?): stop it, "
            "then restore"
        )
    for target in targets.values():
        users = users_of(target) if target is not None else []
        if users:
            raise DatabaseInUse(
                f"{target} is in use by {', '.join(users)}: stop that service, then restore"
            )


def _swap_rest(
    work: Path,
    archive: Path,
    database_path: Path,
    manifest: Manifest,
    counts: dict[str, int],
    n_entries: int,
    influx_note: str,
    unpack_to: Path | None,
    at: float,
    influxdb_rpc: str,
    placed: list[tuple[Path, Path | None]],
) -> RestoreResult:
    """After the data folders were swapped (`placed`): the rest unpacked for the operator,
    and the database put in place (its previous file kept aside)."""
    # What stage() did not move (no target given) is unpacked for the operator.
    extra = [p for p in (PROMETHEUS_DIR, INFLUXDB_DIR) if (work / p).exists()]
    target: Path | None = None
    instructions: list[str] = [*([influx_note] if influx_note else [])]
    instructions += [
        f"{t} restored; the previous data is kept as {aside}" if aside else f"{t} restored"
        for t, aside in placed
    ]
    if extra:
        target = unpack_to or archive.parent / f"restored-{stamp(at)}"
        target.mkdir(parents=True, exist_ok=True)
        for p in extra:
            shutil.move(str(work / p), str(target / p))
        instructions += restore_instructions(target, extra, influxdb_rpc)
    previous: Path | None = None
    moved: list[tuple[Path, Path]] = []
    try:
        if database_path.exists():
            previous = database_path.with_name(
                f"{database_path.name}.before-restore-{stamp(at)}"
            )
            _keep(database_path, previous)
            for suffix in ("-wal", "-shm"):  # a clean close leaves none; never pair old ones
                side = database_path.with_name(database_path.name + suffix)
                if side.exists():
                    os.replace(side, previous.with_name(previous.name + suffix))
                    moved.append((previous.with_name(previous.name + suffix), side))
        # One rename: a reader sees the old database or the restored one, never neither.
        os.replace(work / DATABASE_NAME, database_path)
    except OSError:
        for aside, side in moved:  # as it was: the side files back, the second name gone
            with contextlib.suppress(OSError):
                os.replace(aside, side)
        if previous is not None:
            previous.unlink(missing_ok=True)
        raise
    return RestoreResult(
        database_path, previous, manifest, counts, n_entries, target, tuple(instructions)
    )


def _keep(path: Path, aside: Path) -> None:
    """A second name for `path` (a hard link; a copy where links are not possible)."""
    try:
        os.link(path, aside)
    except OSError:
        shutil.copy2(path, aside)


def restore_instructions(
    target: Path, parts: list[str], influxdb_rpc: str = "127.0.0.1:8088"
) -> list[str]:
    """The commands that put the unpacked Prometheus snapshot / InfluxDB backup in place."""
    lines = []
    if PROMETHEUS_DIR in parts:
        lines.append(
            "Prometheus: stop it, then replace its --storage.tsdb.path with the snapshot: "
            f"mv DATA DATA.old && cp -a {target / PROMETHEUS_DIR} DATA; start it"
        )
    if INFLUXDB_DIR in parts and influx2.manifests(target / INFLUXDB_DIR):
        lines.append(
            f"InfluxDB 2.x (running): INFLUX_TOKEN=<operator token> influx restore "
            f"{target / INFLUXDB_DIR} --host <[bot.influxdb] url> --full  (or --bucket NAME "
            "--new-bucket NAME for one bucket)"
        )
    elif INFLUXDB_DIR in parts:
        lines.append(
            f"InfluxDB (running): influxd restore -portable -host {influxdb_rpc} "
            f"{target / INFLUXDB_DIR}  (add -db NAME -newdb NAME to restore one database "
            "under a new name)"
        )
    return lines


# -- retention ----------------------------------------------------------------------------------


def list_archives(directory: Path) -> list[Archive]:
    """The archives in `directory` (by their file names), newest first."""
    found = []
    if directory.is_dir():
        for p in directory.iterdir():
            at = archive_time(p.name)
            if at is not None and p.is_file():
                found.append(Archive(p.name, at, p.stat().st_size))
    return sorted(found, key=lambda a: a.created_at, reverse=True)


def archive_problems(archive: Path, encryption_key: str = "") -> list[str]:
    """What is wrong with `archive` (decrypts, unpacks, every checksum); empty when good."""
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".check-") as tmp:
        try:
            unpack(archive, Path(tmp) / "content", encryption_key)
        except RestoreError as exc:
            return exc.problems
        except FileNotFoundError as exc:
            return [str(exc)]
    return []


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What prune did: the newest archive that verified (None: none did), what it deleted."""

    newest_good: str | None
    deleted: tuple[Archive, ...]
    kept: tuple[Archive, ...]


def prune(
    directory: Path, keep_daily: int, keep_weekly: int, encryption_key: str = ""
) -> PruneResult:
    """Delete the archives retention does not keep; never the newest one that verifies.

    The archives are checked newest first until one unpacks with every checksum right (and
    decrypts under `encryption_key`); without one, nothing is deleted.
    """
    archives = list_archives(directory)
    newest_good = None
    for a in archives:
        problems = archive_problems(directory / a.name, encryption_key)
        if not problems:
            newest_good = a.name
            break
        log.warning("backup: %s does not verify: %s", a.name, "; ".join(problems))
    doomed = prune_plan(archives, keep_daily, keep_weekly, newest_good)
    for a in doomed:
        (directory / a.name).unlink(missing_ok=True)
        log.info("backup: pruned %s", a.name)
    gone = {a.name for a in doomed}
    return PruneResult(newest_good, tuple(doomed), tuple(a for a in archives if a.name not in gone))


class BackupRunner:
    """Backups as the bot's services take them (a Backups port): write, then prune."""

    def __init__(
        self,
        sources: BackupSources,
        directory: Path,
        encryption_key: str = "",
        keep_daily: int = 7,
        keep_weekly: int = 4,
    ) -> None:
        self.sources = sources
        self.directory = directory
        self._key = encryption_key
        self.keep_daily = keep_daily
        self.keep_weekly = keep_weekly

    def take(self) -> Taken:
        """Write an archive, then apply retention (blocking: run it in a thread)."""
        r = create_backup(self.sources, self.directory, encryption_key=self._key)
        pruned = prune(self.directory, self.keep_daily, self.keep_weekly, self._key)
        return Taken(str(r.archive), r.size, r.manifest, tuple(a.name for a in pruned.deleted))

    def archives(self) -> tuple[str, list[Archive]]:
        """The folder and its archives, newest first."""
        return str(self.directory), list_archives(self.directory)
