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

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "bot.sqlite3"
PROMETHEUS_DIR = "prometheus"
INFLUXDB_DIR = "influxdb"


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
