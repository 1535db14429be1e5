"""The secrets vault: Fernet tokens in the bot's SQLite, keys in a file kept apart from it.

The key file holds one key per line, `<id> <fernet key>`, the newest (primary) first; lines
starting with `#` are comments. It must be a regular file of the current user with mode 0600
or tighter, else every use of the vault is refused. The database stores only the tokens and,
per key, its id and a SHA-256 fingerprint: never key material.

Rotation is crash-safe: `rotate` takes the database's write lock, writes the key file with
the new primary key first and every old key kept (temporary file, fsync, rename, fsync of the
folder), then re-encrypts every secret and commits once. A crash before the rename changes
nothing; after it, the file holds every key the database's tokens need, committed or not.
`retire` works the other way round: it re-encrypts under the primary and commits, checks
that every secret decrypts with the primary alone, and only then rewrites the key file.

Fault injection (tests only): `HOMELAB_FAULT_VAULT=after-keyfile` or `=mid-rotate` makes
`rotate` print `fault point: <name>` to stderr and sleep there for a minute, so a test can
kill the process at exactly that moment (tests/bot/test_vault_cli.py).

Example::

    vault = Vault.open(Path("var/bot/homelab.sqlite3"), Path("var/vault.key"))
    vault.set("discord-token", "...")
    assert vault.get("discord-token") == "..."
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.adapters.sqlite import Database, StorageError
from bot.domain.vault import KeyStatus, SecretInfo, check_name

log = logging.getLogger(__name__)
T = TypeVar("T")

FAULT_ENV = "HOMELAB_FAULT_VAULT"
_LINE = re.compile(r"(?P<id>k[0-9]+)\s+(?P<key>[A-Za-z0-9_=-]{44})")


class VaultError(Exception):
    """The vault cannot do what was asked; the message is a sentence naming the file."""


class SecretMissing(VaultError):
    """No secret of that name is stored."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no secret named {name!r} in the vault")


@dataclass(frozen=True, slots=True)
class Key:
    """One Fernet key of the key file, with its id."""

    id: str
    key: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """The first 16 hex digits of the key's SHA-256: shown and stored, never the key."""
        return hashlib.sha256(self.key).hexdigest()[:16]


class KeyFile:
    """The key file: read, checked (mode and owner) and replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """Whether the file exists."""
        return self.path.exists()

    def check(self) -> None:
        """Refuse a file that is not a regular file of this user with mode 0600 or tighter."""
        try:
            st = self.path.stat()
        except OSError as exc:
            raise VaultError(f"cannot read key file {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise VaultError(f"key file {self.path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise VaultError(
                f"key file {self.path} belongs to user id {st.st_uid}, not to this user "
                f"({os.geteuid()}); chown it to the user the bot runs as"
            )
        if st.st_mode & 0o077:
            raise VaultError(
                f"key file {self.path} has mode {stat.S_IMODE(st.st_mode):04o}, looser than "
                f"0600: others could read the vault's keys; run `chmod 600 {self.path}`"
            )

    def load(self) -> list[Key]:
        """The keys, primary first (after `check`); VaultError for a missing or bad file."""
        if not self.path.exists():
            raise VaultError(
                f"key file {self.path} does not exist; create it with `homelab-bot keys init` "
                "(or restore it: secrets stored under its keys cannot be read without it)"
            )
        self.check()
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise VaultError(f"cannot read key file {self.path}: {exc}") from None
        keys: list[Key] = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = _LINE.fullmatch(line)
            if match is None:
                raise VaultError(
                    f"key file {self.path} line {number} is not `<id> <fernet key>` "
                    "(e.g. `k1 <44 characters of url-safe base64>`)"
                )
            key = Key(match["id"], match["key"].encode())
            try:
                Fernet(key.key)
            except ValueError:
                raise VaultError(
                    f"key file {self.path} line {number}: key {key.id} is not a Fernet key"
                ) from None
            keys.append(key)
        if not keys:
            raise VaultError(f"key file {self.path} holds no key")
        if len({k.id for k in keys}) != len(keys):
            raise VaultError(f"key file {self.path} names a key id twice")
        return keys

    def write(self, keys: Sequence[Key]) -> None:
        """Replace the file with `keys` (primary first): temporary file, fsync, rename."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        body = "# homelab-bot vault keys: <id> <fernet key>, primary first. Keep it apart from\n"
        body += "# the database and back it up separately; never commit it.\n"
        body += "".join(f"{k.id} {k.key.decode()}\n" for k in keys)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def next_id(keys: Sequence[Key]) -> str:
    """The id after the highest of `keys` (k1, k2, ...)."""
    return f"k{max((int(k.id[1:]) for k in keys), default=0) + 1}"


def _fault(point: str) -> None:
    """The documented fault-injection point `point` (see the module docstring)."""
    if os.environ.get(FAULT_ENV) == point:
        print(f"fault point: {point}", file=sys.stderr, flush=True)
        time.sleep(60)


class Vault:
    """Secrets encrypted with MultiFernet under the keys of a key file."""

    def __init__(self, db: Database, key_file: KeyFile) -> None:
        self.db = db
        self.key_file = key_file

    @classmethod
    def open(cls, database_path: Path, key_file: Path) -> Vault:
        """Open the database (migrating it) and check the key file if it exists."""
        keys = KeyFile(key_file)
        if keys.exists():
            keys.check()
        try:
            db = Database.open_blocking(database_path)
        except StorageError as exc:
            raise VaultError(str(exc)) from None
        return cls(db, keys)

    def close(self) -> None:
        """Close the database (every connection to it, so that a restore may replace it)."""
        self.db.close_blocking()

    def init(self) -> Key | None:
        """Create the key file with one key; None when it exists already."""
        if self.key_file.exists():
            return None
        stored = self._run(lambda c: c.execute("SELECT COUNT(*) FROM vault_secret").fetchone()[0])
        if stored:
            # A fresh key would hide the loss: those secrets need the keys of the missing file.
            raise VaultError(
                f"key file {self.key_file.path} does not exist but the vault holds {stored} "
                "secrets encrypted under its keys; restore the file (or delete the secrets "
                "with `homelab-bot secrets delete` to start over)"
            )
        key = Key("k1", Fernet.generate_key())
        self.key_file.write([key])
        self._run(lambda c: _register(c, key))
        log.info("vault key file %s created with key %s", self.key_file.path, key.id)
        return key

    def _fernet(self) -> tuple[list[Key], MultiFernet]:
        keys = self.key_file.load()
        return keys, MultiFernet([Fernet(k.key) for k in keys])

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return self.db.run_blocking(fn)
        except sqlite3.Error as exc:
            raise VaultError(f"cannot use the vault in {self.db.path}: {exc}") from None

    def set(self, name: str, value: str) -> bool:
        """Store `value` as `name` (creating the key file if absent); True when it is new."""
        check_name(name)
        if not self.key_file.exists():
            self.init()
        keys, fernet = self._fernet()
        token = fernet.encrypt(value.encode()).decode()
        now = time.time()

        def work(c: sqlite3.Connection) -> bool:
            new = c.execute("SELECT 1 FROM vault_secret WHERE name = ?", (name,)).fetchone()
            c.execute(
                "INSERT INTO vault_secret (name, token, key_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " token = excluded.token, key_id = excluded.key_id,"
                " updated_at = excluded.updated_at",
                (name, token, keys[0].id, now, now),
            )
            return new is None

        return self._run(work)

    def get(self, name: str) -> str:
        """The value of `name`; SecretMissing, or VaultError when no key decrypts it."""
        row = self._run(
            lambda c: c.execute("SELECT token FROM vault_secret WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            raise SecretMissing(name)
        _, fernet = self._fernet()
        try:
            return fernet.decrypt(str(row[0]).encode()).decode()
        except InvalidToken:
            raise VaultError(
                f"secret {name!r} cannot be decrypted with the keys in {self.key_file.path}: "
                "wrong key file, or the key that encrypted it was removed"
            ) from None

    def delete(self, name: str) -> bool:
        """Remove `name`; False when there was none."""
        cursor = self._run(lambda c: c.execute("DELETE FROM vault_secret WHERE name = ?", (name,)))
        return bool(cursor.rowcount)

    def secrets(self) -> list[SecretInfo]:
        """Every secret's name, last change and key id, by name (never a value)."""
        rows = self._run(
            lambda c: c.execute(
                "SELECT name, updated_at, key_id FROM vault_secret ORDER BY name"
            ).fetchall()
        )
        return [SecretInfo(str(r[0]), float(r[1]), str(r[2])) for r in rows]

    def keys_added(self) -> dict[str, float]:
        """When each key id the vault recorded was added (Unix seconds)."""
        rows = self._run(lambda c: c.execute("SELECT id, added_at FROM vault_key").fetchall())
        return {str(r[0]): float(r[1]) for r in rows}

    def status(self) -> list[KeyStatus]:
        """Each key of the key file, primary first, with how many secrets it decrypts."""
        keys = self.key_file.load()
        tokens = self._run(lambda c: c.execute("SELECT token FROM vault_secret").fetchall())
        known = dict(self._run(lambda c: c.execute("SELECT id, fingerprint FROM vault_key")))
        out = []
        for i, key in enumerate(keys):
            if key.id in known and known[key.id] != key.fingerprint:
                raise VaultError(
                    f"key {key.id} in {self.key_file.path} is not the key the vault recorded "
                    f"under that id (fingerprint {key.fingerprint}, recorded {known[key.id]}): "
                    "wrong key file?"
                )
            one = Fernet(key.key)
            count = 0
            for (token,) in tokens:
                try:
                    one.decrypt(str(token).encode())
                    count += 1
                except InvalidToken:
                    pass
            out.append(KeyStatus(key.id, key.fingerprint, i == 0, count))
        return out

    def rotate(self) -> Key:
        """Add a new primary key and re-encrypt every secret under it, in one transaction."""
        old, current = self._fernet()
        new = Key(next_id(old), Fernet.generate_key())
        keys = [new, *old]
        fernet = MultiFernet([Fernet(k.key) for k in keys])

        def work(c: sqlite3.Connection) -> int:
            c.execute("BEGIN IMMEDIATE")  # no secret is written under the old keys meanwhile
            try:
                rows = c.execute("SELECT name, token FROM vault_secret").fetchall()
                for name, token in rows:
                    try:
                        current.decrypt(str(token).encode())
                    except InvalidToken:
                        raise VaultError(
                            f"secret {name!r} cannot be decrypted with the keys in "
                            f"{self.key_file.path} (wrong key file?); nothing was rotated"
                        ) from None
                self.key_file.write(keys)  # before the commit, old keys kept: see the docstring
                _fault("after-keyfile")
                for i, (name, token) in enumerate(rows):
                    fresh = fernet.rotate(str(token).encode()).decode()
                    c.execute(
                        "UPDATE vault_secret SET token = ?, key_id = ? WHERE name = ?",
                        (fresh, new.id, name),
                    )
                    if i == len(rows) // 2:
                        _fault("mid-rotate")
                _register(c, new)
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            return len(rows)

        count = self._run(work)
        log.info("vault key %s is primary; %d secrets re-encrypted", new.id, count)
        return new

    def retire(self) -> list[str]:
        """Remove every key but the primary, once every secret decrypts with it alone."""
        keys, fernet = self._fernet()
        primary = Fernet(keys[0].key)
        old = [k.id for k in keys[1:]]
        if not old:
            return []

        def work(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            try:
                rows = c.execute("SELECT name, token FROM vault_secret").fetchall()
                for name, token in rows:
                    try:
                        fresh = fernet.rotate(str(token).encode())
                        primary.decrypt(fresh)
                    except InvalidToken:
                        raise VaultError(
                            f"secret {name!r} cannot be decrypted with the keys in "
                            f"{self.key_file.path}; no key was retired"
                        ) from None
                    c.execute(
                        "UPDATE vault_secret SET token = ?, key_id = ? WHERE name = ?",
                        (fresh.decode(), keys[0].id, name),
                    )
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

        self._run(work)
        # Committed: every token now decrypts with the primary alone. Check, then drop the rest.
        for name, token in self._run(
            lambda c: c.execute("SELECT name, token FROM vault_secret").fetchall()
        ):
            try:
                primary.decrypt(str(token).encode())
            except InvalidToken:
                raise VaultError(
                    f"secret {name!r} does not decrypt with the primary key {keys[0].id} of "
                    f"{self.key_file.path}; no key was retired"
                ) from None
        self.key_file.write(keys[:1])
        now = time.time()
        self._run(
            lambda c: c.executemany(
                "UPDATE vault_key SET retired_at = ? WHERE id = ?", [(now, k) for k in old]
            )
        )
        log.info("vault keys %s retired; %s is the only key", ", ".join(old), keys[0].id)
        return old


def check_restored(database: Path, key_file: Path) -> str:
    """One sentence on whether the secrets of the database at `database` (a restored copy)
    decrypt with the keys of `key_file`; read-only, nothing is changed."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as c:
        try:
            query = "SELECT name, token, key_id FROM vault_secret ORDER BY name"
            rows = c.execute(query).fetchall()
        except sqlite3.OperationalError:
            rows = []
    if not rows:
        return "vault: the restored database holds no secret"
    try:
        keys = KeyFile(key_file).load()
    except VaultError as exc:
        return f"vault: {len(rows)} secrets, not checked: {exc}"
    fernet = MultiFernet([Fernet(k.key) for k in keys])
    bad: list[tuple[str, str]] = []
    for name, token, key_id in rows:
        try:
            fernet.decrypt(str(token).encode())
        except InvalidToken:
            bad.append((str(name), str(key_id)))
    if not bad:
        return f"vault: all {len(rows)} secrets decrypt with {key_file}"
    needed = ", ".join(sorted({k for _, k in bad}))
    return (
        f"vault: {len(bad)} of {len(rows)} secrets ({', '.join(n for n, _ in bad)}) do not "
        f"decrypt with {key_file}: they need key {needed}; put back the key file that holds "
        "it, or set them again with `homelab-bot secrets set`"
    )


def _register(c: sqlite3.Connection, key: Key) -> None:
    c.execute(
        # The key file says what an id means now (a fresh file after every secret was deleted).
        "INSERT OR REPLACE INTO vault_key (id, fingerprint, added_at) VALUES (?, ?, ?)",
        (key.id, key.fingerprint, time.time()),
    )
