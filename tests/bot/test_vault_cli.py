"""`homelab-bot secrets` and `keys` as subprocesses: values never leak, rotation survives -9."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.adapters.vault import FAULT_ENV, Key, KeyFile, Vault

CANARY = "vault-canary-Xw3Pq8Nz5Tb1"
BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _config(tmp_path: Path, *lines: str) -> Path:
    cfg = tmp_path / "homelab.toml"
    body = [
        "[bot]",
        'log_level = "DEBUG"',
        f'database_path = "{tmp_path / "bot.sqlite3"}"',
        f'image_dir = "{tmp_path / "img"}"',
        "[bot.prometheus]",
        'url = "http://127.0.0.1:9"',
        *lines,
    ]
    cfg.write_text("\n".join(body) + "\n")
    return cfg


def _bot(
    cfg: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    return subprocess.run(
        [*BOT, "--config", str(cfg), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
    )


def _audit(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.sqlite3")) as c:
        return [
            (str(r[0]), str(r[1]), str(r[2]), str(r[3]))
            for r in c.execute("SELECT actor, action, target, outcome FROM audit_log ORDER BY seq")
        ]


def test_set_list_delete_round_trip_never_shows_the_value(tmp_path: Path) -> None:
    """set (stdin), list, delete work; the value is in no output, argv, log or audit row."""
    cfg = _config(tmp_path)
    outputs = []
    put = _bot(cfg, "secrets", "set", "discord-token", stdin=CANARY + "\n")
    assert put.returncode == 0, put.stderr
    assert CANARY not in " ".join(put.args)
    outputs.append(put)
    listed = _bot(cfg, "secrets", "list")
    assert listed.returncode == 0 and "discord-token" in listed.stdout
    outputs.append(listed)
    as_json = _bot(cfg, "secrets", "list", "--json")
    assert '"name": "discord-token"' in as_json.stdout
    outputs.append(as_json)
    # The bot reads it back exactly (the trailing newline of `echo` dropped).
    assert Vault.open(tmp_path / "bot.sqlite3", tmp_path / "vault.key").get("discord-token") == (
        CANARY
    )
    outputs.append(_bot(cfg, "keys", "rotate"))
    outputs.append(_bot(cfg, "keys", "status"))
    tail = _bot(cfg, "audit", "tail", "-n", "50")
    outputs.append(tail)
    gone = _bot(cfg, "secrets", "delete", "discord-token")
    assert gone.returncode == 0, gone.stderr
    outputs.append(gone)
    again = _bot(cfg, "secrets", "delete", "discord-token")
    assert again.returncode == 3 and "no secret named 'discord-token'" in again.stderr
    assert "bot.adapters.vault" in put.stderr  # the log was written, and holds no value
    for out in outputs:
        assert out.returncode == 0, out.stderr
        assert CANARY not in out.stdout + out.stderr
    dump = "\n".join(sqlite3.connect(tmp_path / "bot.sqlite3").iterdump())
    assert CANARY not in dump
    actions = [(a, act, t, o) for a, act, t, o in _audit(tmp_path) if act != "audit tail"]
    assert actions == [
        ("console", "secrets set", "discord-token", "ok"),
        ("console", "secrets list", "", "ok"),
        ("console", "secrets list", "", "ok"),
        ("console", "keys rotate", "k2", "ok"),
        ("console", "keys status", "", "ok"),
        ("console", "secrets delete", "discord-token", "ok"),
        ("console", "secrets delete", "discord-token", "not found"),
    ]
    verify = _bot(cfg, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    as_argument = _bot(cfg, "secrets", "set", "x", CANARY)  # a value is never an argument
    assert as_argument.returncode == 2 and "unrecognized arguments" in as_argument.stderr
    assert _bot(cfg, "secrets", "list").stdout.strip() == "(the vault holds no secret)"


def test_secret_reference_resolves_for_the_discord_token(tmp_path: Path) -> None:
    """[bot.discord] token = "secret:..." resolves: check-config masks it and never prints it."""
    cfg = _config(tmp_path, "[bot.discord]", 'token = "secret:discord-token"')
    assert _bot(cfg, "secrets", "set", "discord-token", stdin=CANARY).returncode == 0
    out = _bot(cfg, "check-config")
    assert out.returncode == 0, out.stderr
    assert '"token": "********"' in out.stdout
    assert CANARY not in out.stdout + out.stderr and "secret:discord-token" not in out.stdout
    from bot.settings import BotSettings
    from homelab.settings import load_settings, secrets_of

    settings = load_settings(BotSettings, cfg)
    assert settings.discord.token.get_secret_value() == CANARY
    assert CANARY in secrets_of(settings)  # so the log redaction filter hides it


def test_audit_key_in_the_vault_seals_the_vault_operations(tmp_path: Path) -> None:
    """[bot.audit] key = "secret:audit-key": storing it is audited under it; verify passes."""
    cfg = _config(tmp_path, "[bot.audit]", 'key = "secret:audit-key"')
    assert _bot(cfg, "secrets", "list").returncode == 2  # cannot be audited yet: says so
    put = _bot(cfg, "secrets", "set", "audit-key", stdin="k" * 32)
    assert put.returncode == 0, put.stderr
    assert _bot(cfg, "secrets", "list").returncode == 0
    verify = _bot(cfg, "audit", "verify")
    assert verify.returncode == 0 and "keyed (HMAC-SHA256)" in verify.stdout


def test_missing_secret_exits_2_naming_the_setting_and_the_secret(tmp_path: Path) -> None:
    """A reference to a secret not in the vault stops check-config and run with exit 2."""
    cfg = _config(tmp_path, "[bot.discord]", 'token = "secret:nope"')
    for command in ("check-config", "run"):
        before = _bot(cfg, command)  # no database yet
        assert before.returncode == 2
        assert "bot.discord.token" in before.stderr and "'nope'" in before.stderr
    assert _bot(cfg, "secrets", "set", "other", stdin="x").returncode == 0
    out = _bot(cfg, "check-config")
    assert out.returncode == 2
    assert "bot.discord.token: secret 'nope' is not in the vault" in out.stderr
    assert "Traceback" not in out.stderr


def test_loose_key_file_stops_the_bot_naming_the_file(tmp_path: Path) -> None:
    """A key file with mode 0644 makes run, check-config and the vault commands exit 2."""
    cfg = _config(tmp_path)
    assert _bot(cfg, "keys", "init").returncode == 0
    key_file = tmp_path / "vault.key"  # the default: beside the settings file
    os.chmod(key_file, 0o644)
    for args in (("run",), ("check-config",), ("secrets", "list"), ("keys", "status")):
        out = _bot(cfg, *args)
        assert out.returncode == 2, args
        assert f"key file {key_file} has mode 0644" in out.stderr
        assert "Traceback" not in out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_foreign_owned_key_file_stops_the_bot_naming_the_file(tmp_path: Path) -> None:
    """A key file owned by nobody makes run exit 2, naming the file."""
    key_file = tmp_path / "keys" / "vault.key"
    cfg = _config(tmp_path, "[bot.vault]", 'key_file = "keys/vault.key"')
    assert _bot(cfg, "keys", "init").returncode == 0
    os.chown(key_file, pwd.getpwnam("nobody").pw_uid, -1)
    out = _bot(cfg, "run")
    assert out.returncode == 2
    assert f"key file {key_file} belongs to user id" in out.stderr


def test_wrong_key_file_is_an_error_naming_it_not_a_traceback(tmp_path: Path) -> None:
    """Another key file than the one the secrets were stored under: exit 2, file named."""
    cfg = _config(tmp_path, "[bot.discord]", 'token = "secret:t"')
    assert _bot(cfg, "secrets", "set", "t", stdin=CANARY).returncode == 0
    key_file = tmp_path / "vault.key"
    key_file.unlink()
    missing = _bot(cfg, "check-config")
    assert missing.returncode == 2
    assert f"bot.discord.token: key file {key_file} does not exist" in missing.stderr
    init = _bot(cfg, "keys", "init")  # a fresh key would hide the loss: refused
    assert init.returncode == 2 and "restore the file" in init.stderr
    lost = _bot(cfg, "secrets", "set", "u", stdin="x")
    assert lost.returncode == 2 and f"key file {key_file} does not exist" in lost.stderr
    KeyFile(key_file).write([Key("k1", Fernet.generate_key())])  # another key under k1
    for args in (("check-config",), ("keys", "rotate"), ("keys", "status")):
        out = _bot(cfg, *args)
        assert out.returncode == 2, args
        assert str(key_file) in out.stderr and "Traceback" not in out.stderr


def _fill(tmp_path: Path, n: int) -> dict[str, str]:
    vault = Vault.open(tmp_path / "bot.sqlite3", tmp_path / "vault.key")
    values = {f"s{i:03d}": f"{CANARY}-{i}" for i in range(n)}
    for name, value in values.items():
        vault.set(name, value)
    vault.close()
    return values


def _all_readable(tmp_path: Path, values: dict[str, str]) -> None:
    vault = Vault.open(tmp_path / "bot.sqlite3", tmp_path / "vault.key")
    try:
        assert {name: vault.get(name) for name in values} == values
    finally:
        vault.close()


@pytest.mark.parametrize("point", ["after-keyfile", "mid-rotate"])
def test_rotation_killed_at_a_fault_point_leaves_every_secret_readable(
    tmp_path: Path, point: str
) -> None:
    """kill -9 after the key file is written, or half-way through re-encrypting: all readable."""
    cfg = _config(tmp_path)
    values = _fill(tmp_path, 20)
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    proc = subprocess.Popen(
        [*BOT, "--config", str(cfg), "keys", "rotate"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**base, FAULT_ENV: point},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if f"fault point: {point}" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert [k.id for k in KeyFile(tmp_path / "vault.key").load()] == ["k2", "k1"]
    _all_readable(tmp_path, values)
    again = _bot(cfg, "keys", "rotate")
    assert again.returncode == 0, again.stderr
    _all_readable(tmp_path, values)
    retired = _bot(cfg, "keys", "retire")
    assert retired.returncode == 0, retired.stderr
    assert [k.id for k in KeyFile(tmp_path / "vault.key").load()] == ["k3"]
    _all_readable(tmp_path, values)


def test_rotation_killed_at_random_moments_leaves_every_secret_readable(tmp_path: Path) -> None:
    """SIGKILL at a random moment of `keys rotate`'s re-encryption, 10 times: all readable.

    2000 secrets make the re-encryption last long enough that most kills land between the key
    file's rename and the commit (counted as `torn`, with the new key in the file and no secret
    under it); the fault-point test above covers that window deterministically.
    """
    cfg = _config(tmp_path)
    values = _fill(tmp_path, 2000)
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    started = time.monotonic()
    assert _bot(cfg, "keys", "rotate").returncode == 0
    full = time.monotonic() - started
    vault = Vault.open(tmp_path / "bot.sqlite3", tmp_path / "vault.key")
    started = time.monotonic()
    vault.rotate()  # how long the re-encryption alone takes
    rotate = time.monotonic() - started
    vault.close()
    rng = random.Random(13)
    seen = {"before": 0, "torn": 0, "done": 0}
    for _ in range(10):
        before = len(KeyFile(tmp_path / "vault.key").load())
        proc = subprocess.Popen(
            [*BOT, "--config", str(cfg), "keys", "rotate"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=base,
        )
        # Wait for the key file's rename (a new inode), then kill at a random moment of the
        # re-encryption that follows; sometimes after the commit, or (rarely) before the rename.
        key_file = tmp_path / "vault.key"
        inode = key_file.stat().st_ino
        deadline = time.monotonic() + 3 * full
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(FileNotFoundError):
                if key_file.stat().st_ino != inode:
                    break
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 1.2) * rotate)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        keys = KeyFile(tmp_path / "vault.key").load()
        with sqlite3.connect(tmp_path / "bot.sqlite3") as c:
            owners = {str(r[0]) for r in c.execute("SELECT DISTINCT key_id FROM vault_secret")}
        if len(keys) == before:
            seen["before"] += 1
        else:
            seen["torn" if owners != {keys[0].id} else "done"] += 1
        _all_readable(tmp_path, values)
    assert seen["torn"] >= 1, f"no kill landed inside the re-encryption: {seen}"
    final = _bot(cfg, "keys", "rotate")
    assert final.returncode == 0, final.stderr
    _all_readable(tmp_path, values)


def test_retire_is_refused_while_a_kept_backup_needs_the_old_key(tmp_path: Path) -> None:
    """A backup's manifest names the keys its secrets are under; `keys retire` keeps a key a
    kept (encrypted) archive needs, says which, and is audited as refused; once that archive
    is gone it retires; --force retires even so."""
    cfg = _config(tmp_path, "[bot.backup]", 'encryption_key = "secret:backup-key"')
    assert _bot(cfg, "secrets", "set", "backup-key", stdin="passphrase-" + CANARY).returncode == 0
    assert _bot(cfg, "secrets", "set", "t", stdin=CANARY).returncode == 0
    first = _bot(cfg, "backup", "--json")
    assert first.returncode == 0, first.stderr
    old_archive = Path(json.loads(first.stdout)["archive"])
    from bot.adapters.backup import read_manifest

    assert read_manifest(old_archive, "passphrase-" + CANARY).vault_keys == ("k1",)
    assert _bot(cfg, "keys", "rotate").returncode == 0
    refused = _bot(cfg, "keys", "retire")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"{old_archive.name} (k1)" in refused.stderr and "--force" in refused.stderr
    assert [k.id for k in KeyFile(tmp_path / "vault.key").load()] == ["k2", "k1"]
    assert _audit(tmp_path)[-1] == (
        "console", "keys retire", "", "refused: a kept backup needs the key"
    )
    old_archive.unlink()  # pruned, or deleted by hand
    damaged = old_archive.with_name("homelab-backup-20200101T000000Z.tar.gz")
    damaged.write_bytes(b"not an archive")  # cannot be restored either: named, not counted
    done = _bot(cfg, "keys", "retire")
    assert done.returncode == 0, done.stderr
    assert f"note: cannot tell which keys {damaged.name} needs" in done.stderr
    damaged.unlink()
    assert [k.id for k in KeyFile(tmp_path / "vault.key").load()] == ["k2"]

    second = _bot(cfg, "backup", "--json")
    assert second.returncode == 0, second.stderr
    new_archive = Path(json.loads(second.stdout)["archive"])
    assert read_manifest(new_archive, "passphrase-" + CANARY).vault_keys == ("k2",)
    assert _bot(cfg, "keys", "rotate").returncode == 0  # the kept archive needs k2 now
    assert _bot(cfg, "keys", "retire").returncode == 2
    forced = _bot(cfg, "keys", "retire", "--force")
    assert forced.returncode == 0, forced.stderr
    assert [k.id for k in KeyFile(tmp_path / "vault.key").load()] == ["k3"]
    _all_readable(tmp_path, {"t": CANARY})
    # What --force warned of: a restore of that archive brings back secrets under k2 only.
    restored = _bot(cfg, "restore", str(new_archive), "--json")
    assert restored.returncode == 0, restored.stdout
    (note,) = [n for n in json.loads(restored.stdout)["next_steps"] if n.startswith("vault:")]
    assert "2 of 2 secrets (backup-key, t) do not decrypt" in note and "need key k2" in note


def test_set_on_a_terminal_prompts_without_echo(tmp_path: Path) -> None:
    """On a terminal `secrets set` asks with a hidden prompt: the typed value is stored and
    never echoed back to the terminal."""
    import fcntl
    import pty
    import select
    import termios

    cfg = _config(tmp_path)
    leader, follower = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(follower, termios.TIOCSCTTY, 0)

    base = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    proc = subprocess.Popen(
        [*BOT, "--config", str(cfg), "secrets", "set", "typed"],
        stdin=follower, stdout=follower, stderr=subprocess.DEVNULL,
        preexec_fn=own_terminal, env=base,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"(not shown): " not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([leader], [], [], 0.5)[0]:
                seen += os.read(leader, 1024)
        os.write(leader, CANARY.encode() + b"\n")
        assert proc.wait(timeout=60) == 0
        with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
            while select.select([leader], [], [], 0.2)[0]:
                chunk = os.read(leader, 1024)
                if not chunk:
                    break
                seen += chunk
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    text = seen.decode(errors="replace")
    assert "value of secret typed (not shown): " in text
    assert CANARY not in text and "secret typed stored" in text
    _all_readable(tmp_path, {"typed": CANARY})
