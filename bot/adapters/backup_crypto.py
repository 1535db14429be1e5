"""Encryption of backup archives under a passphrase kept in the vault ([bot.backup]).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`, as the vault uses) cannot stream, and
an archive may be gigabytes, so the file is a sequence of Fernet tokens over 1 MiB chunks:

    HLBKENC1 | salt (16 bytes) | key check (32 bytes) | { length (4 bytes, big-endian) | token }*

The Fernet key is scrypt(passphrase, salt). The key check is HMAC-SHA256(key, "key-check"), so
a wrong passphrase is named as such before any chunk is read, apart from a damaged file. Each
token's plaintext starts with the chunk's index (8 bytes) and a last-chunk flag (1 byte): a
chunk dropped, repeated, moved, or a file cut at a chunk boundary fails to decrypt.

Example::

    encrypt_file(Path("a.tar.gz"), Path("a.tar.gz.enc"), "passphrase")
    decrypt_file(Path("a.tar.gz.enc"), Path("b.tar.gz"), "passphrase")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

log = logging.getLogger(__name__)

MAGIC = b"HLBKENC1"
SUFFIX = ".enc"
CHUNK = 1 << 20
_SALT = 16
_CHECK = 32
_HEADER = len(MAGIC) + _SALT + _CHECK


class WrongKey(Exception):
    """The passphrase is not the one the archive was encrypted with."""


class DamagedArchive(Exception):
    """The encrypted archive is truncated or altered."""


def _derive(passphrase: str, salt: bytes) -> bytes:
    raw = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(passphrase.encode())
    return base64.urlsafe_b64encode(raw)


def _check(key: bytes) -> bytes:
    return hmac.new(key, b"key-check", hashlib.sha256).digest()


def is_encrypted(path: Path) -> bool:
    """True when `path` starts with this format's magic bytes."""
    with path.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def encrypt_file(src: Path, dest: Path, passphrase: str) -> None:
    """Write `src` encrypted under `passphrase` to `dest`."""
    if not passphrase:
        raise ValueError("an empty passphrase encrypts nothing")
    salt = os.urandom(_SALT)
    key = _derive(passphrase, salt)
    fernet = Fernet(key)
    size = src.stat().st_size
    with src.open("rb") as inp, dest.open("wb") as out:
        out.write(MAGIC + salt + _check(key))
        index = 0
        done = 0
        while True:
            data = inp.read(CHUNK)
            done += len(data)
            last = done >= size
            token = fernet.encrypt(struct.pack(">Q?", index, last) + data)
            out.write(struct.pack(">I", len(token)) + token)
            index += 1
            if last:
                break


def decrypt_file(src: Path, dest: Path, passphrase: str) -> None:
    """Decrypt `src` into `dest`; WrongKey or DamagedArchive say what is wrong."""
    with dest.open("wb") as out:
        for plain in decrypt_chunks(src, passphrase):
            out.write(plain)


def decrypt_chunks(src: Path, passphrase: str) -> Iterator[bytes]:
    """The plaintext of `src`, chunk by chunk; WrongKey or DamagedArchive (when reached)."""
    with src.open("rb") as inp:
        header = inp.read(_HEADER)
        if len(header) < _HEADER or not header.startswith(MAGIC):
            raise DamagedArchive(f"{src.name}: the encryption header is missing or cut off")
        salt, check = header[len(MAGIC) : len(MAGIC) + _SALT], header[len(MAGIC) + _SALT :]
        key = _derive(passphrase, salt)
        if not hmac.compare_digest(_check(key), check):
            raise WrongKey(
                f"{src.name} was encrypted with another key than [bot.backup] encryption_key"
            )
        fernet = Fernet(key)
        index = 0
        while True:
            length = inp.read(4)
            if len(length) < 4:
                raise DamagedArchive(f"{src.name}: cut off after chunk {index} (truncated?)")
            token = inp.read(struct.unpack(">I", length)[0])
            try:
                plain = fernet.decrypt(token)
            except InvalidToken:
                raise DamagedArchive(
                    f"{src.name}: chunk {index} does not decrypt (altered or truncated)"
                ) from None
            got, last = struct.unpack(">Q?", plain[:9])
            if got != index:
                raise DamagedArchive(f"{src.name}: chunk {index} is out of order")
            yield plain[9:]
            index += 1
            if last:
                break
        if inp.read(1):
            raise DamagedArchive(f"{src.name}: bytes after the last chunk")


class ChunkReader(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks (tarfile's stream mode reads it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        """Yes."""
        return True

    def readinto(self, target: Any) -> int:
        """Fill `target` from the chunks; 0 at their end."""
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
