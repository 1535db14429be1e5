"""`homelab-bot backup` and `homelab-bot restore`: the archive from the command line.

Progress goes to stderr: rich progress bars on a terminal, one plain line per step otherwise,
nothing with `--json` (whose one JSON object goes to stdout). Every backup and restore appends
an audit record (actor "console"). Exit codes: 0 done, 1 failed (the archive does not verify,
a part could not be written), 2 refused (bad settings, the database is in use), 3 the archive
does not exist.

Example::

    homelab-bot backup --to /srv/backups
    homelab-bot restore /srv/backups/homelab-backup-20261203T141500Z.tar.gz
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from bot.adapters.backup import (
    BackupError,
    BackupResult,
    BackupSources,
    DatabaseInUse,
    PrometheusSource,
    PruneResult,
    RestoreError,
    RestoreResult,
    auth_headers,
    create_backup,
    list_archives,
    prune,
    restore_backup,
)
from bot.adapters.sqlite import Database, SqliteAuditRepository, StorageError
from bot.domain.audit import AuditRecord
from bot.domain.backup import Archive, format_size
from bot.services.ports import AuditWriteError
from bot.settings import BotSettings

log = logging.getLogger(__name__)

ACTOR = "console"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `backup` and `restore` subcommands."""
    backup = sub.add_parser(
        "backup",
        help="write one archive: the bot's database, a Prometheus snapshot, an InfluxDB backup",
        description="Write homelab-backup-<UTC time>.tar.gz with the bot's SQLite (online "
        "backup API, consistent while the bot runs), a Prometheus TSDB snapshot (admin API), "
        "an InfluxDB 1.x portable backup and manifest.json. Exit codes: 0 done, 1 failed, "
        "2 bad settings. See docs/operations.md.",
    )
    backup.add_argument(
        "action", nargs="?", choices=("now", "list", "prune"), default="now",
        help="now (the default): write an archive, then prune; list: the archives with their "
        "sizes; prune: apply [bot.backup] keep_daily / keep_weekly",
    )  # fmt: skip
    backup.add_argument(
        "--to", type=Path, default=None, help="folder for the archive (default: backups/ "
        "beside [bot] database_path)",
    )  # fmt: skip
    backup.add_argument("--json", action="store_true", help="print the answer as JSON")
    restore = sub.add_parser(
        "restore",
        help="verify an archive completely, then put its database in place",
        description="Unpack, verify (checksums, integrity_check, row counts, the audit chain, "
        "promtool tsdb list, a scratch influxd restore) and only then replace the database "
        "(and, when given, Prometheus' and InfluxDB's data folders), keeping the previous ones "
        "as <path>.before-restore-<time>. Refused while any of them is open elsewhere (stop the "
        "bot and those services first). Exit codes: 0 done, 1 the archive does not verify "
        "(nothing changed), 2 refused, 3 no such archive.",
    )
    restore.add_argument("archive", type=Path, help="the .tar.gz written by `backup`")
    restore.add_argument(
        "--unpack-to", type=Path, default=None,
        help="where the Prometheus snapshot and InfluxDB backup go (default: restored-<time> "
        "beside the archive)",
    )  # fmt: skip
    restore.add_argument(
        "--prometheus-data", type=Path, default=None, metavar="DIR",
        help="Prometheus' --storage.tsdb.path (Prometheus stopped): replaced by the verified "
        "snapshot, the previous folder kept as DIR.before-restore-<time>",
    )  # fmt: skip
    restore.add_argument(
        "--influxdb-data", type=Path, default=None, metavar="DIR",
        help="the folder of InfluxDB's meta/, data/ and wal/ (influxd stopped): replaced by "
        "the scratch influxd's verified restore, the previous folder kept aside",
    )  # fmt: skip
    restore.add_argument("--json", action="store_true", help="print the answer as JSON")


def sources(settings: BotSettings) -> BackupSources:
    """What `backup` takes from the settings."""
    p = settings.prometheus
    prom = PrometheusSource(
        p.url,
        auth_headers(
            p.bearer_token.get_secret_value(),
            p.username,
            p.password.get_secret_value(),
            p.headers,
        ),
    )
    i = settings.influxdb
    rpc = i.rpc_address if i.enabled else None
    return BackupSources(settings.database_path, prom, rpc, influxdb_url=i.url if i.enabled else "",
                         influxdb_token=i.token.get_secret_value())  # fmt: skip


def main(args: argparse.Namespace, settings: BotSettings) -> int:
    """Run `backup` or `restore`; the exit code is documented in the module."""
    as_json = bool(args.json)
    with progress_reporter(as_json) as progress:
        if args.command == "backup":
            return _backup(args, settings, progress, as_json)
        return _restore(args, settings, progress, as_json)


def _backup(
    args: argparse.Namespace,
    settings: BotSettings,
    progress: Callable[[str, float], None],
    as_json: bool,
) -> int:
    directory = args.to or settings.backup.folder(settings.database_path)
    key = settings.backup.encryption_key.get_secret_value()
    if args.action == "list":
        _answer_list(as_json, directory, list_archives(directory))
        return 0
    if args.action == "prune":
        pruned = prune(directory, settings.backup.keep_daily, settings.backup.keep_weekly, key)
        if not _audit(settings, "backup prune", str(directory), "ok"):
            return 1
        _answer_prune(as_json, directory, pruned)
        return 0 if pruned.newest_good else 1
    try:
        result = create_backup(sources(settings), directory, progress, encryption_key=key)
    except BackupError as exc:
        if settings.database_path.exists():  # never create a database to say it is missing
            _audit(settings, "backup", str(directory), "failed")
        return _fail(as_json, 1, str(exc))
    if not _audit(settings, "backup", str(result.archive), "ok"):
        return 1
    answer = backup_answer(result)
    pruned = prune(directory, settings.backup.keep_daily, settings.backup.keep_weekly, key)
    answer["pruned"] = [a.name for a in pruned.deleted]
    _answer(as_json, answer)
    return 0


def _answer_list(as_json: bool, directory: Path, archives: list[Archive]) -> None:
    if as_json:
        doc = [{"name": a.name, "created_at": a.created_at, "size": a.size} for a in archives]
        print(json.dumps({"directory": str(directory), "archives": doc}, sort_keys=True))
        return
    if not archives:
        print(f"no archives in {directory}")
    for a in archives:
        print(f"{directory / a.name}  {format_size(a.size)}")


def _answer_prune(as_json: bool, directory: Path, r: PruneResult) -> None:
    if as_json:
        print(json.dumps({
            "directory": str(directory),
            "newest_good": r.newest_good,
            "deleted": [a.name for a in r.deleted],
            "kept": [a.name for a in r.kept],
        }, sort_keys=True))  # fmt: skip
        return
    if r.newest_good is None:
        print(f"error: no archive in {directory} verifies; nothing deleted", file=sys.stderr)
        return
    print(f"newest good archive: {r.newest_good}")
    for a in r.deleted:
        print(f"deleted {a.name}")
    print(f"kept {len(r.kept)} archive(s)")


def _restore(
    args: argparse.Namespace,
    settings: BotSettings,
    progress: Callable[[str, float], None],
    as_json: bool,
) -> int:
    archive: Path = args.archive
    db = settings.database_path
    key = settings.audit.secret()
    try:
        result = restore_backup(
            archive,
            db,
            key,
            args.unpack_to,
            progress,
            influxdb_rpc=settings.influxdb.rpc_address,
            encryption_key=settings.backup.encryption_key.get_secret_value(),
            prometheus_data=args.prometheus_data,
            influxdb_data=args.influxdb_data,
            vault_key_file=settings.vault.key_file,
        )
    except FileNotFoundError as exc:
        return _fail(as_json, 3, str(exc))
    except DatabaseInUse as exc:
        _audit(settings, "restore", str(archive), "refused")  # the running bot's log has it
        return _fail(as_json, 2, str(exc))
    except RestoreError as exc:
        if db.exists():  # a refused restore into an empty folder leaves it empty
            _audit(settings, "restore", str(archive), "failed")
        return _fail(as_json, 1, f"{archive} does not verify; nothing was changed", exc.problems)
    # The restored database's own chain records that it was restored, and from what.
    if not _audit(settings, "restore", str(archive), "ok"):
        return 1
    _answer(as_json, restore_answer(result))
    return 0


def backup_answer(r: BackupResult) -> dict[str, Any]:
    """The answer of `backup`, as JSON."""
    m = r.manifest
    return {
        "outcome": "ok",
        "archive": str(r.archive),
        "created_at": m.created_at,
        "size": r.size,
        "parts": sorted(m.parts()),
        "row_counts": dict(m.row_counts),
        "versions": dict(m.versions),
        "skipped": [{"part": s.part, "reason": s.reason} for s in m.skipped],
    }


def restore_answer(r: RestoreResult) -> dict[str, Any]:
    """The answer of `restore`, as JSON."""
    return {
        "outcome": "ok",
        "database": str(r.database),
        "previous": str(r.previous) if r.previous else None,
        "row_counts": dict(r.row_counts),
        "audit_entries": r.audit_entries,
        "unpacked": str(r.unpacked) if r.unpacked else None,
        "next_steps": list(r.instructions),
        "skipped_in_backup": [{"part": s.part, "reason": s.reason} for s in r.manifest.skipped],
    }


def _answer(as_json: bool, doc: dict[str, Any]) -> None:
    if as_json:
        print(json.dumps(doc, sort_keys=True))
        return
    if "archive" in doc:
        print(f"backup written: {doc['archive']} ({format_size(doc['size'])})")
        print(f"parts: {', '.join(doc['parts'])}")
        for name in doc.get("pruned", []):
            print(f"pruned {name}")
    else:
        print(f"database restored: {doc['database']}")
        if doc["previous"]:
            print(f"previous database kept as {doc['previous']}")
        print(f"audit chain verified: {doc['audit_entries']} entries")
        if doc["unpacked"]:
            print(f"verified and unpacked for you to put in place: {doc['unpacked']}")
        for line in doc["next_steps"]:
            print(f"  {line}")
    rows = ", ".join(f"{t} {n}" for t, n in sorted(doc["row_counts"].items()))
    print(f"rows: {rows}")
    for s in doc.get("skipped", doc.get("skipped_in_backup", [])):
        print(f"skipped {s['part']}: {s['reason']}")


def _fail(as_json: bool, code: int, error: str, problems: list[str] | None = None) -> int:
    if as_json:
        print(json.dumps({"outcome": "failed", "error": error, "problems": problems or []}))
    else:
        print(f"error: {error}", file=sys.stderr)
        for p in problems or []:
            print(f"  {p}", file=sys.stderr)
    return code


def _audit(settings: BotSettings, action: str, target: str, outcome: str) -> bool:
    """Append the audit record; False (after saying why) when it cannot be written."""
    try:
        db = Database.open_blocking(settings.database_path)
    except StorageError as exc:
        print(f"error: cannot audit {action}: {exc}", file=sys.stderr)
        return False
    try:
        repo = SqliteAuditRepository(db, settings.audit.secret())
        asyncio.run(repo.append(AuditRecord(ACTOR, action, target, outcome, time.time())))
    except AuditWriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    finally:
        asyncio.run(db.close())
    return True


@contextmanager
def progress_reporter(as_json: bool) -> Iterator[Callable[[str, float], None]]:
    """Rich bars on a terminal, a line per finished step otherwise, nothing with --json."""
    if as_json:
        yield lambda step, fraction: None
        return
    if sys.stderr.isatty():
        bars = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            console=Console(stderr=True),
            redirect_stdout=False,  # stdout is for the answer, even on a terminal
        )
        tasks: dict[str, TaskID] = {}
        with bars:

            def show(step: str, fraction: float) -> None:
                if step not in tasks:
                    tasks[step] = bars.add_task(step, total=1.0)
                bars.update(tasks[step], completed=fraction)

            yield show
        return
    done: set[str] = set()

    def plain(step: str, fraction: float) -> None:
        if fraction >= 1.0 and step not in done:
            done.add(step)
            print(f"{step}: done", file=sys.stderr, flush=True)

    yield plain
