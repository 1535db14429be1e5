"""Encrypted archives (key from the vault) and retention, through `homelab-bot backup` and
`restore`: the archive is not a readable tar.gz, restore needs the same key and names a wrong
one, and pruning keeps the newest archive that verifies even when newer ones are damaged."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from bot.adapters.backup import (
    BackupSources,
    RestoreError,
    create_backup,
    prune,
    read_manifest,
    restore_backup,
)
from bot.domain.backup import archive_time
from tests.integration.test_backup import _audit_actions, _bot, _config, _counts, _seed

pytestmark = pytest.mark.integration

DAY = 86400.0
T0 = 1796256000.0  # 2026-12-03T00:00:00Z, a Thursday


def _set_secret(cfg: Path, name: str, value: str) -> None:
    import os
    import subprocess

    from tests.integration.test_backup import BOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    out = subprocess.run(
        [*BOT, "--config", str(cfg), "secrets", "set", name],
        input=value + "\n", capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_encrypted_backup_restores_with_the_vault_key_and_names_a_wrong_one(
    tmp_path: Path,
) -> None:
    """With encryption_key = "secret:backup-key" the archive is .tar.gz.enc, not a tar;
    restore with the same vault secret gives the same rows; another key is refused by name."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db)
    cfg = _config(tmp_path, db, "[bot.backup]", 'encryption_key = "secret:backup-key"')
    _set_secret(cfg, "backup-key", "correct horse battery staple")
    out = _bot(cfg, "backup", "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    archive = Path(answer["archive"])
    assert archive.name.endswith(".tar.gz.enc")
    assert not tarfile.is_tarfile(archive)
    assert b"bot.sqlite3" not in archive.read_bytes()

    listed = _bot(cfg, "backup", "list")
    assert f"{archive}  " in listed.stdout and "KiB" in listed.stdout

    target = tmp_path / "fresh" / "bot.sqlite3"
    with pytest.raises(RestoreError, match=r"encrypted with another key than \[bot.backup\]"):
        restore_backup(archive, target, b"", encryption_key="another passphrase")
    with pytest.raises(RestoreError, match=r"is encrypted: set \[bot.backup\] encryption_key"):
        restore_backup(archive, target, b"")
    assert not target.exists()

    right = _config(
        tmp_path, target, "[bot.backup]", 'encryption_key = "correct horse battery staple"'
    )
    out = _bot(right, "restore", str(archive), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["row_counts"] == answer["row_counts"]
    assert _counts(target)["alert_message"] == answer["row_counts"]["alert_message"]
    assert _audit_actions(target)[-1] == ("restore", "ok")


def test_truncated_encrypted_archive_is_named_damaged(tmp_path: Path) -> None:
    """An encrypted archive cut short is 'truncated', not a wrong key; nothing is changed."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, filler_rows=10)
    r = create_backup(BackupSources(db), tmp_path / "b", encryption_key="k" * 20)
    data = r.archive.read_bytes()
    r.archive.write_bytes(data[: len(data) - 40])
    with pytest.raises(RestoreError, match=r"does not decrypt|cut off"):
        restore_backup(r.archive, tmp_path / "t" / "bot.sqlite3", b"", encryption_key="k" * 20)
    assert not (tmp_path / "t" / "bot.sqlite3").exists()


def test_the_manifest_reads_without_unpacking_and_names_what_stops_it(tmp_path: Path) -> None:
    """read_manifest decrypts only as far as manifest.json (the first member), for a plain
    and an encrypted archive; no key, another key, or a cut-off header is a RestoreError."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, filler_rows=10)
    plain = create_backup(BackupSources(db), tmp_path / "p")
    sealed = create_backup(BackupSources(db), tmp_path / "e", encryption_key="k" * 20)
    assert read_manifest(plain.archive) == plain.manifest
    assert read_manifest(sealed.archive, "k" * 20) == sealed.manifest
    assert plain.manifest.vault_keys == ()  # a database without secrets
    for key, says in (("", "is encrypted and no key is set"), ("x" * 20, "another key")):
        with pytest.raises(RestoreError, match=says):
            read_manifest(sealed.archive, key)
    sealed.archive.write_bytes(sealed.archive.read_bytes()[:20])
    with pytest.raises(RestoreError, match="header is missing or cut off"):
        read_manifest(sealed.archive, "k" * 20)
    (tmp_path / "x.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(RestoreError, match=r"x\.tar\.gz"):
        read_manifest(tmp_path / "x.tar.gz")


def test_prune_keeps_daily_and_weekly_and_never_the_only_good_archive(tmp_path: Path) -> None:
    """Ten daily archives, keep 3 daily + 2 weekly: the 3 newest days and last week's newest
    stay. When every archive but the oldest is damaged, that oldest one survives pruning."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, entries=1, filler_rows=0)
    out = tmp_path / "b"
    made = [create_backup(BackupSources(db), out, now=T0 - i * DAY).archive for i in range(10)]
    result = prune(out, keep_daily=3, keep_weekly=2)
    kept = sorted(a.name for a in result.kept)
    # Dec 3 (Thu), 2, 1 (Tue): the days; Nov 29 (Sun): the newest of the week before.
    assert kept == sorted(p.name for p in (made[0], made[1], made[2], made[4]))
    assert {p.name for p in out.iterdir() if archive_time(p.name)} == set(kept)

    for p in (made[0], made[1], made[2]):
        p.write_bytes(p.read_bytes()[:100])  # cut off: none of them verifies
    result = prune(out, keep_daily=1, keep_weekly=0)
    assert result.newest_good == made[4].name
    assert made[4].exists()
    # The newest day's archive is kept by the buckets, damaged or not; the others go.
    assert not made[1].exists() and not made[2].exists()
