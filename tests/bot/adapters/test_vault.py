"""The vault adapter: Fernet tokens in SQLite, keys in a 0600 file, rotation and retirement."""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.adapters.vault import KeyFile, SecretMissing, Vault, VaultError
from bot.domain.vault import SecretNameError

CANARY = "vault-canary-Hq7Lz2Rk9Wm4"


def _vault(tmp_path: Path) -> Vault:
    return Vault.open(tmp_path / "bot.sqlite3", tmp_path / "vault.key")


def test_set_get_list_delete_round_trip(tmp_path: Path) -> None:
    """A stored secret reads back, is listed by name, and is gone after delete."""
    vault = _vault(tmp_path)
    assert vault.set("discord-token", CANARY) is True
    assert vault.set("discord-token", CANARY + "2") is False  # replaced
    assert vault.get("discord-token") == CANARY + "2"
    assert [s.name for s in vault.secrets()] == ["discord-token"]
    assert vault.delete("discord-token") is True
    assert vault.delete("discord-token") is False
    with pytest.raises(SecretMissing):
        vault.get("discord-token")
    with pytest.raises(SecretNameError):
        vault.set("bad name!", "x")


def test_key_file_is_created_0600_and_the_database_holds_no_key(tmp_path: Path) -> None:
    """The first `set` creates the key file 0600; neither keys nor values are in the database."""
    vault = _vault(tmp_path)
    vault.set("a", CANARY)
    vault.close()
    key_file = tmp_path / "vault.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = KeyFile(key_file).load()
    dump = "\n".join(sqlite3.connect(tmp_path / "bot.sqlite3").iterdump())
    assert CANARY not in dump
    assert keys[0].key.decode() not in dump
    assert keys[0].fingerprint in dump  # what the database knows of the key


def test_rotate_then_retire_keeps_every_secret_and_drops_the_old_key(tmp_path: Path) -> None:
    """After rotate and retire every secret reads back and only the new key is in the file."""
    vault = _vault(tmp_path)
    for i in range(5):
        vault.set(f"s{i}", f"{CANARY}-{i}")
    old = KeyFile(vault.key_file.path).load()
    new = vault.rotate()
    status = vault.status()
    assert [(k.id, k.primary, k.decrypts) for k in status] == [(new.id, True, 5), ("k1", False, 0)]
    assert vault.retire() == ["k1"]
    keys = KeyFile(vault.key_file.path).load()
    assert [k.id for k in keys] == [new.id]
    assert old[0].key not in [k.key for k in keys]
    assert [vault.get(f"s{i}") for i in range(5)] == [f"{CANARY}-{i}" for i in range(5)]
    assert vault.retire() == []


def test_wrong_key_file_is_a_clear_error(tmp_path: Path) -> None:
    """A key file with another key: reading, status and rotate name the file, change nothing."""
    vault = _vault(tmp_path)
    vault.set("a", CANARY)
    path = vault.key_file.path
    KeyFile(path).write([type(KeyFile(path).load()[0])("k1", Fernet.generate_key())])
    with pytest.raises(VaultError, match=str(path)):
        vault.get("a")
    with pytest.raises(VaultError, match="wrong key file"):
        vault.status()
    with pytest.raises(VaultError, match="nothing was rotated"):
        vault.rotate()
    assert [k.id for k in KeyFile(path).load()] == ["k1"]


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    """A vault whose key file is gone says which file and how to get one."""
    vault = _vault(tmp_path)
    vault.set("a", CANARY)
    vault.key_file.path.unlink()
    with pytest.raises(VaultError, match=f"key file {vault.key_file.path} does not exist"):
        vault.get("a")


def test_loose_mode_is_refused(tmp_path: Path) -> None:
    """A key file with mode 0644 is refused, naming the file and the fix."""
    vault = _vault(tmp_path)
    vault.set("a", CANARY)
    os.chmod(vault.key_file.path, 0o644)
    with pytest.raises(VaultError, match=r"mode 0644, looser than 0600.*chmod 600"):
        Vault.open(tmp_path / "bot.sqlite3", vault.key_file.path)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_foreign_owner_is_refused(tmp_path: Path) -> None:
    """A key file owned by another user (nobody) is refused, naming the file."""
    vault = _vault(tmp_path)
    vault.set("a", CANARY)
    os.chown(vault.key_file.path, pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(VaultError, match=f"key file {vault.key_file.path} belongs to user"):
        Vault.open(tmp_path / "bot.sqlite3", vault.key_file.path)
