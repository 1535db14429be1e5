"""The manifest of a backup archive: its JSON round trip and the checks restore runs on it."""

from __future__ import annotations

import pytest

from bot.domain.backup import (
    Manifest,
    ManifestError,
    ManifestFile,
    Skipped,
    count_problems,
    file_problems,
)

M = Manifest(
    created_at=1700000000.5,
    files=(
        ManifestFile("bot.sqlite3", 4096, "a" * 64),
        ManifestFile("prometheus/01H/meta.json", 10, "b" * 64),
    ),
    versions={"bot": "0.1.0", "sqlite": "3.40.1"},
    row_counts={"audit_log": 3},
    skipped=(Skipped("influxdb", "[bot.influxdb] is not enabled"),),
)


def test_manifest_round_trips_through_json() -> None:
    """from_json(to_json()) gives the same manifest, and its parts are named."""
    assert Manifest.from_json(M.to_json()) == M
    assert M.parts() == {"sqlite", "prometheus"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "unreadable"),
        ('{"format": 99}', "format 99"),
        ('{"format": 1, "created_at": 1}', "unreadable: KeyError"),
    ],
)
def test_unreadable_manifest_is_a_manifest_error(text: str, says: str) -> None:
    """A manifest that is not JSON, of another format or incomplete says so."""
    with pytest.raises(ManifestError, match=says):
        Manifest.from_json(text)


def test_file_problems_name_each_file() -> None:
    """Missing, truncated, changed and unlisted files are each named; a match gives none."""
    good = {f.path: (f.size, f.sha256) for f in M.files}
    assert file_problems(M, good) == []
    bad = {"bot.sqlite3": (100, "a" * 64), "extra.txt": (1, "c" * 64)}
    assert file_problems(M, bad) == [
        "bot.sqlite3: 100 bytes, the manifest says 4096 (truncated?)",
        "prometheus/01H/meta.json: listed in the manifest but missing from the archive",
        "extra.txt: in the archive but not in the manifest",
    ]
    changed = {**good, "bot.sqlite3": (4096, "d" * 64)}
    assert file_problems(M, changed) == [
        f"bot.sqlite3: SHA-256 {'d' * 64} does not match the manifest's {'a' * 64}"
    ]


def test_count_problems_name_each_table() -> None:
    """A table with other rows, or one only on either side, is named."""
    assert count_problems({"a": 1, "b": 2}, {"a": 1, "b": 2}) == []
    assert count_problems({"a": 1, "b": 2}, {"a": 0, "c": 5}) == [
        "table a: 0 rows, the manifest says 1",
        "table b: missing, the manifest says 2 rows",
        "table c: in the database but not in the manifest",
    ]
