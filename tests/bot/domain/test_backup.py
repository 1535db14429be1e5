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


def test_vault_keys_round_trip_and_an_older_manifest_says_nothing() -> None:
    """The vault key ids survive the JSON; a manifest without them reads as None (unknown)."""
    from dataclasses import replace

    keyed = replace(M, vault_keys=("k1", "k2"))
    assert Manifest.from_json(keyed.to_json()).vault_keys == ("k1", "k2")
    assert "vault_keys" not in M.to_json() and Manifest.from_json(M.to_json()).vault_keys is None


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


def test_retention_buckets_and_the_newest_good_archive() -> None:
    """Daily and weekly buckets keep the newest of each; the newest good one is never pruned,
    and with no good archive nothing is."""
    from bot.domain.backup import Archive, archive_time, format_size, prune_plan, retained

    day = 86400.0
    t0 = 1796256000.0  # Thursday 2026-12-03 00:00 UTC
    arcs = [Archive(f"a{i}", t0 - i * day) for i in range(15)] + [Archive("b0", t0 + 60)]
    assert retained(arcs, 2, 0) == {"b0", "a1"}
    # ISO weeks: Nov 30 - Dec 6, Nov 23 - 29, Nov 16 - 22
    assert retained(arcs, 1, 3) == {"b0", "a4", "a11"}
    doomed = {a.name for a in prune_plan(arcs, 1, 0, newest_good="a14")}
    assert "a14" not in doomed and "b0" not in doomed and len(doomed) == 14
    assert prune_plan(arcs, 1, 0, newest_good=None) == []
    assert archive_time("homelab-backup-20261203T000000Z.tar.gz.enc") == t0
    assert archive_time("notes.txt") is None
    assert (format_size(812), format_size(4404019)) == ("812 B", "4.2 MiB")
