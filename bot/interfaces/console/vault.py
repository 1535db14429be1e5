"""`homelab-bot secrets ...` and `homelab-bot keys ...`: the vault from the command line.

Every operation appends an audit record (actor "console", the secret's name or the key ids as
target, never a value) through the same repository the bot writes with. Exit codes: 0 done,
1 failed (e.g. the audit log cannot be written), 2 refused (bad name, key file missing, wrong
or too open, a secret that does not decrypt), 3 not found (deleting an unknown secret).

Example::

    homelab-bot secrets set discord-token < token.txt
    homelab-bot keys rotate && homelab-bot keys retire
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import logging
import sys
import time

from bot.adapters.backup import RestoreError, list_archives, read_manifest
from bot.adapters.sqlite import SqliteAuditRepository
from bot.adapters.vault import SecretMissing, Vault, VaultError
from bot.domain.audit import AuditRecord
from bot.domain.vault import SecretNameError, reference
from bot.services.ports import AuditWriteError
from bot.settings import BotSettings
from homelab.logs import configure
from homelab.settings import secrets_of

log = logging.getLogger(__name__)

ACTOR = "console"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `secrets` and `keys` subcommands."""
    secrets = sub.add_parser(
        "secrets",
        help="the secrets vault: set, list, delete (settings name one as secret:<name>)",
        description="Secrets encrypted in the bot's database under the keys of [bot.vault] "
        "key_file. Exit codes: 0 done, 1 failed, 2 refused (bad name, key file missing, "
        "wrong or too open), 3 not found.",
    )
    s = secrets.add_subparsers(dest="secrets_command", required=True, metavar="{set,list,delete}")
    put = s.add_parser(
        "set", help="store a secret: the value from stdin when piped, else a hidden prompt"
    )
    put.add_argument("name", help="the secret's name, e.g. discord-token")
    listing = s.add_parser("list", help="names and last change (never values)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    delete = s.add_parser("delete", help="remove a secret")
    delete.add_argument("name")
    keys = sub.add_parser(
        "keys",
        help="the vault's key file: init, rotate, retire, status",
        description="rotate adds a new primary key and re-encrypts every secret under it; "
        "retire then removes the old keys once every secret decrypts without them.",
    )
    k = keys.add_subparsers(
        dest="keys_command", required=True, metavar="{init,rotate,retire,status}"
    )
    k.add_parser("init", help="create the key file (mode 0600) with one key")
    k.add_parser("rotate", help="add a new primary key; re-encrypt every secret in one step")
    retire = k.add_parser(
        "retire", help="remove every key but the primary, once nothing needs them (refused "
        "while a kept backup's secrets are encrypted under one)",
    )  # fmt: skip
    retire.add_argument(
        "--force", action="store_true",
        help="retire even so: restoring those backups then leaves their secrets unreadable",
    )  # fmt: skip
    status = k.add_parser("status", help="key ids, the primary, how many secrets each decrypts")
    status.add_argument("--json", action="store_true", help="print JSON")


def main(args: argparse.Namespace, settings: BotSettings) -> int:
    """Run one `secrets` or `keys` command; the exit code is documented in the module."""
    assert settings.vault.key_file is not None
    sub = args.secrets_command if args.command == "secrets" else args.keys_command
    action = f"{args.command} {sub}"
    name = str(getattr(args, "name", ""))
    try:
        vault = Vault.open(settings.database_path, settings.vault.key_file)
    except VaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(vault, settings, action, name, bool(getattr(args, "json", False)),
                    bool(getattr(args, "force", False)))  # fmt: skip
    finally:
        vault.close()


def _audit_key(vault: Vault, settings: BotSettings) -> bytes | None:
    """The audit log's HMAC key (from the vault when it names a secret); None if not there."""
    ref = reference(settings.audit.key.get_secret_value())
    if ref is None:
        return settings.audit.secret()
    try:
        return vault.get(ref).encode()
    except SecretMissing:
        return None


class RetireRefused(VaultError):
    """`keys retire` found a kept backup that needs an old key."""


def _run(
    vault: Vault, settings: BotSettings, action: str, name: str, as_json: bool, force: bool
) -> int:
    audit_ref = reference(settings.audit.key.get_secret_value())
    try:
        key = _audit_key(vault, settings)
    except VaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if key is None and not (action == "secrets set" and name == audit_ref):
        print(
            f"error: [bot.audit] key names secret {audit_ref!r}, which is not in the vault, so "
            f"this operation cannot be audited; set it first: homelab-bot secrets set {audit_ref}",
            file=sys.stderr,
        )
        return 2
    value = ""
    if action == "secrets set":
        value = _read_value(name)
        if not value:
            print("error: empty value; nothing stored", file=sys.stderr)
            return 2
        # The value joins the log redaction before anything can log it.
        configure(settings.log_level, secrets=[*secrets_of(settings), value])
    code, target, text = 0, name, ""
    refused = False
    try:
        if action == "keys retire" and not force:
            _check_backups(vault, settings)
        code, target, text = _operate(vault, action, name, value, as_json)
    except RetireRefused as exc:
        code, text, refused = 2, f"error: {exc}", True
    except SecretNameError as exc:
        code, text = 2, f"error: {exc}"
    except SecretMissing as exc:
        code, text = 3, f"error: {exc}"
    except VaultError as exc:
        code, text = 2, f"error: {exc}"
    if key is None:  # the audit key itself was just stored
        key = _audit_key(vault, settings) or b""
    outcome = "ok" if code == 0 else ("not found" if code == 3 else "failed")
    outcome = "refused: a kept backup needs the key" if refused else outcome
    try:
        asyncio.run(
            SqliteAuditRepository(vault.db, key).append(
                AuditRecord(ACTOR, action, target, outcome, time.time())
            )
        )
    except AuditWriteError as exc:
        print(text, file=sys.stderr if code else sys.stdout)
        print(f"error: {exc}", file=sys.stderr)
        return code or 1
    print(text, file=sys.stderr if code else sys.stdout)
    return code


def _check_backups(vault: Vault, settings: BotSettings) -> None:
    """RetireRefused naming each archive of the backup folder whose secrets need an old key.

    The manifest says which keys (an archive from before that: every key added before it);
    an archive whose manifest cannot be read (damaged, another passphrase) cannot be
    restored with these settings either, and is only mentioned.
    """
    keys = vault.key_file.load()
    old = {k.id for k in keys[1:]}
    if not old:
        return
    folder = settings.backup.folder(settings.database_path)
    passphrase = settings.backup.encryption_key.get_secret_value()
    ref = reference(passphrase)
    if ref is not None:
        try:
            passphrase = vault.get(ref)
        except VaultError:
            passphrase = ""
    added = vault.keys_added()
    needing = []
    for archive in list_archives(folder):
        try:
            manifest = read_manifest(folder / archive.name, passphrase)
        except RestoreError as exc:
            print(f"note: cannot tell which keys {archive.name} needs: {exc}", file=sys.stderr)
            continue
        need = (
            set(manifest.vault_keys)
            if manifest.vault_keys is not None
            else {k for k in old if added.get(k, 0.0) <= manifest.created_at}
        )
        if need & old:
            needing.append(f"{archive.name} ({', '.join(sorted(need & old))})")
    if needing:
        shown = "; ".join(needing[:5]) + (f"; {len(needing) - 5} more" if len(needing) > 5 else "")
        raise RetireRefused(
            f"no key was retired: {len(needing)} kept backup(s) in {folder} hold secrets "
            f"encrypted under an old key, and a restore of them would need it: {shown}. Keep "
            "the key until retention has pruned them (`homelab-bot backup list`), or retire "
            "with --force (their secrets then cannot be read after a restore)"
        )


def _read_value(name: str) -> str:
    """The secret's value: stdin when it is not a terminal (one trailing newline dropped)."""
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    return getpass.getpass(f"value of secret {name} (not shown): ")


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _operate(
    vault: Vault, action: str, name: str, value: str, as_json: bool
) -> tuple[int, str, str]:
    """(exit code, audit target, text to print) of one operation."""
    path = vault.key_file.path
    if action == "secrets set":
        new = vault.set(name, value)
        return 0, name, f"secret {name} {'stored' if new else 'replaced'}"
    if action == "secrets list":
        infos = vault.secrets()
        if as_json:
            rows = [
                {"name": i.name, "updated_at": _when(i.updated_at), "key_id": i.key_id}
                for i in infos
            ]
            return 0, "", json.dumps({"secrets": rows}, indent=2)
        lines = [f"{i.name}  changed {_when(i.updated_at)}  key {i.key_id}" for i in infos]
        return 0, "", "\n".join(lines) or "(the vault holds no secret)"
    if action == "secrets delete":
        if not vault.delete(name):
            raise SecretMissing(name)
        return 0, name, f"secret {name} deleted"
    if action == "keys init":
        created = vault.init()
        if created is None:
            return 1, "", f"error: key file {path} exists already; add a key with `keys rotate`"
        return 0, created.id, f"key file {path} created (mode 0600) with key {created.id}"
    if action == "keys rotate":
        primary = vault.rotate()
        count = len(vault.secrets())
        return (
            0,
            primary.id,
            (
                f"key {primary.id} is the primary key of {path}; {count} secrets re-encrypted "
                "under it. "
                "The old keys stay until `homelab-bot keys retire`."
            ),
        )
    if action == "keys retire":
        gone = vault.retire()
        if not gone:
            return 0, "", f"nothing to retire: {path} holds only the primary key"
        return 0, ",".join(gone), f"retired {', '.join(gone)} from {path}"
    # keys status
    keys = vault.status()
    total = len(vault.secrets())
    if as_json:
        rows_k = [
            {"id": k.id, "fingerprint": k.fingerprint, "primary": k.primary, "decrypts": k.decrypts}
            for k in keys
        ]
        return 0, "", json.dumps({"key_file": str(path), "secrets": total, "keys": rows_k})
    lines = [f"key file {path}, {total} secrets"] + [
        f"{k.id}  {'primary' if k.primary else 'old    '}  fingerprint {k.fingerprint}  "
        f"decrypts {k.decrypts}/{total}"
        for k in keys
    ]
    return 0, "", "\n".join(lines)
