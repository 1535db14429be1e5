"""What a backup archive holds: its manifest, and the checks restore runs on it.

The manifest lists every file of the archive with its size and SHA-256, the versions of the
bot, SQLite, Prometheus and InfluxDB that made it, the row count of every table of the bot's
database, and each part that was skipped with the reason. `file_problems` compares it with
what was unpacked, `count_problems` with the restored database.

Example::

    m = Manifest(created_at=1700000000.0, files=(ManifestFile("bot.sqlite3", 4096, "ab.."),))
    assert Manifest.from_json(m.to_json()) == m
    assert file_problems(m, {"bot.sqlite3": (4096, "ab..")}) == []
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain.messages import Embed, Field, Message

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "bot.sqlite3"
PROMETHEUS_DIR = "prometheus"
INFLUXDB_DIR = "influxdb"


class BackupFailed(Exception):
    """A backup could not be written; the message says which part failed."""


class ManifestError(ValueError):
    """The manifest is missing, not JSON, or not one this bot can read."""


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One file of the archive: its path inside it, size in bytes, SHA-256 (hex)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part left out of the archive, and why (with what to do about it)."""

    part: str
    reason: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """The manifest.json of an archive."""

    created_at: float
    files: tuple[ManifestFile, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    row_counts: Mapping[str, int] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()
    format: int = FORMAT
    # The vault key ids the database's secrets are encrypted under (None: an archive made
    # before manifests said so): `keys retire` keeps a key that a kept archive needs.
    vault_keys: tuple[str, ...] | None = None

    def parts(self) -> set[str]:
        """The parts present: 'sqlite', 'prometheus', 'influxdb'."""
        found = set()
        for f in self.files:
            if f.path == DATABASE_NAME:
                found.add("sqlite")
            elif f.path.startswith(PROMETHEUS_DIR + "/"):
                found.add("prometheus")
            elif f.path.startswith(INFLUXDB_DIR + "/"):
                found.add("influxdb")
        return found

    def to_json(self) -> str:
        """The manifest as indented JSON."""
        doc: dict[str, Any] = {
            "format": self.format,
            "created_at": self.created_at,
            "versions": dict(self.versions),
            "row_counts": dict(self.row_counts),
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "skipped": [{"part": s.part, "reason": s.reason} for s in self.skipped],
        }
        if self.vault_keys is not None:
            doc["vault_keys"] = list(self.vault_keys)
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse manifest.json; ManifestError says what is wrong with it."""
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ManifestError(
                    f"manifest format {doc.get('format')!r} is not {FORMAT} (made by another "
                    "version of the bot?)"
                )
            return cls(
                created_at=float(doc["created_at"]),
                files=tuple(
                    ManifestFile(str(f["path"]), int(f["size"]), str(f["sha256"]))
                    for f in doc["files"]
                ),
                versions={str(k): str(v) for k, v in doc["versions"].items()},
                row_counts={str(k): int(v) for k, v in doc["row_counts"].items()},
                skipped=tuple(Skipped(str(s["part"]), str(s["reason"])) for s in doc["skipped"]),
                vault_keys=(
                    tuple(str(k) for k in doc["vault_keys"]) if "vault_keys" in doc else None
                ),
            )
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            what = f"{type(exc).__name__}: {exc}"
            raise ManifestError(f"manifest.json is unreadable: {what}") from exc


def file_problems(manifest: Manifest, found: Mapping[str, tuple[int, str]]) -> list[str]:
    """Each file missing, extra, of the wrong size or checksum; empty when all match.

    `found` maps each unpacked file's path (manifest.json excluded) to (size, sha256).
    """
    problems: list[str] = []
    listed = {f.path for f in manifest.files}
    for f in manifest.files:
        if f.path not in found:
            problems.append(f"{f.path}: listed in the manifest but missing from the archive")
            continue
        size, digest = found[f.path]
        if size != f.size:
            problems.append(f"{f.path}: {size} bytes, the manifest says {f.size} (truncated?)")
        elif digest != f.sha256:
            problems.append(f"{f.path}: SHA-256 {digest} does not match the manifest's {f.sha256}")
    for path in sorted(set(found) - listed):
        problems.append(f"{path}: in the archive but not in the manifest")
    return problems


def count_problems(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    """Each table whose row count differs from the manifest's; empty when all match."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None:
            problems.append(f"table {table}: in the database but not in the manifest")
        elif got is None:
            problems.append(f"table {table}: missing, the manifest says {want} rows")
        elif want != got:
            problems.append(f"table {table}: {got} rows, the manifest says {want}")
    return problems


@dataclass(frozen=True, slots=True)
class Archive:
    """An archive on disk: its file name, when it was made (UTC epoch), its size in bytes."""

    name: str
    created_at: float
    size: int = 0


def retained(archives: Sequence[Archive], keep_daily: int, keep_weekly: int) -> set[str]:
    """The names kept: the newest archive of each of the last `keep_daily` days that have one
    and of each of the last `keep_weekly` ISO weeks (UTC), like restic's --keep-daily/weekly."""
    kept: set[str] = set()
    newest = sorted(archives, key=lambda a: a.created_at, reverse=True)
    for keep, bucket in (
        (keep_daily, lambda d: d.date().isoformat()),
        (keep_weekly, lambda d: "{}-W{:02d}".format(*d.isocalendar()[:2])),
    ):
        seen: list[str] = []
        for a in newest:
            b = bucket(dt.datetime.fromtimestamp(a.created_at, dt.UTC))
            if b in seen:
                continue
            if len(seen) >= keep:
                break
            seen.append(b)
            kept.add(a.name)
    return kept


def prune_plan(
    archives: Sequence[Archive], keep_daily: int, keep_weekly: int, newest_good: str | None
) -> list[Archive]:
    """The archives to delete, oldest first. Nothing when no archive is known to be good, and
    never `newest_good` (the newest archive that verified), whatever the buckets say."""
    if newest_good is None:
        return []
    kept = retained(archives, keep_daily, keep_weekly) | {newest_good}
    return sorted((a for a in archives if a.name not in kept), key=lambda a: a.created_at)


def archive_time(name: str) -> float | None:
    """The UTC time in `homelab-backup-<YYYYmmddTHHMMSSZ>.tar.gz[.enc]`; None for other names."""
    m = _ARCHIVE.fullmatch(name)
    if m is None:
        return None
    at = dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return at.timestamp()


_ARCHIVE = re.compile(r"homelab-backup-(\d{8}T\d{6}Z)\.tar\.gz(?:\.enc)?")


def format_size(size: int) -> str:
    """Bytes for people: '812 B', '4.2 MiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Taken:
    """A backup just written: where, how big, what it holds, and what retention pruned."""

    path: str
    size: int
    manifest: Manifest
    pruned: tuple[str, ...] = ()


def taken_message(t: Taken) -> Message:
    """/backup now's answer: where the archive is and how big (it stays on disk)."""
    parts = ", ".join(sorted(t.manifest.parts()))
    lines = [f"Backup written: `{t.path}` ({format_size(t.size)}), parts: {parts}."]
    lines += [f"Skipped {s.part}: {s.reason}" for s in t.manifest.skipped]
    if t.pruned:
        lines.append(f"Retention pruned {len(t.pruned)} older archive(s).")
    return Message(text="\n".join(lines), ephemeral=True)


def archives_message(directory: str, archives: Sequence[Archive]) -> Message:
    """/backup list: each archive with its time and size, newest first."""
    if not archives:
        return Message(text=f"No backups in `{directory}` yet (/backup now takes one).",
                       ephemeral=True)  # fmt: skip
    shown = archives[:25]
    fields = tuple(
        Field(a.name, f"{format_size(a.size)}, <t:{int(a.created_at)}:R>") for a in shown
    )
    more = f"; {len(archives) - 25} older not shown" if len(archives) > 25 else ""
    total = format_size(sum(a.size for a in archives))
    embed = Embed(
        title=f"{len(archives)} backups, {total}{more}", description=f"`{directory}`",
        fields=fields,
    )  # fmt: skip
    return Message(embeds=(embed,), ephemeral=True)


def latest_due(fire_times: Sequence[float], now: float, claimed: set[float]) -> float | None:
    """The newest fire time at or before `now` not yet claimed (the run to do), or None.

    `fire_times` are the schedule's times within the grace window before `now`: a run missed
    while the bot was down is made up at start-up, once, and only the newest one.
    """
    past = [t for t in fire_times if t <= now]
    if not past or max(past) in claimed:
        return None
    return max(past)
