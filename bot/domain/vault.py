"""The secrets vault's rules: secret names and the `secret:<name>` references in settings.

The vault itself (encryption, the key file, the database) is an adapter,
`bot.adapters.vault`; this module holds only what needs no I/O and no cryptography.

Example::

    assert reference("secret:discord-token") == "discord-token"
    assert reference("plain value") is None
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

PREFIX = "secret:"
# Names appear in settings, audit records and shell commands: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SecretNameError(ValueError):
    """A secret name that the vault does not accept; the message says what is allowed."""


def check_name(name: str) -> str:
    """`name` when it is a valid secret name, else SecretNameError saying what is allowed."""
    if not _NAME.fullmatch(name):
        raise SecretNameError(
            f"invalid secret name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def reference(value: str) -> str | None:
    """The secret name a setting value refers to (`secret:<name>`), or None for a literal."""
    if not value.startswith(PREFIX):
        return None
    return value[len(PREFIX) :].strip()


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """A secret as `secrets list` shows it: its name, last change (Unix seconds), key id."""

    name: str
    updated_at: float
    key_id: str


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One key of the key file: id, fingerprint, whether primary, secrets it can decrypt."""

    id: str
    fingerprint: str
    primary: bool
    decrypts: int
