"""The audit log as a hash chain: each entry's hash covers its fields and the previous hash.

Editing a row changes its hash; deleting or reordering rows breaks a sequence number or a
`prev_hash` link. `verify` names the first row where the chain stops holding.

Without a key the hash is plain SHA-256, which anyone can recompute: it catches accidents and
careless edits, not someone with write access to the database who rewrites rows, recomputes
the chain and updates the head. With a key (`[bot.audit] key` or `key_file`) each hash is an
HMAC-SHA256, which cannot be recomputed without the key, so such a rewrite fails `verify`.

The head (the seq and hash of the last entry, stored beside the chain) reveals rows deleted
from the end. With a key the head is sealed too (`head_seal`), so deleting the last rows and
pointing the head at the remaining last row fails `verify`. What no key can reveal (a head
rolled back to an older, genuinely sealed one, or a whole database replaced by an older copy)
needs an external copy of the head: see docs/bot.md, "What the audit log proves".

Example::

    first = seal(AuditRecord("ann", "sync", "commands", "ok", 1700000000.0), seq=1, prev=GENESIS)
    assert verify([first]) == []
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What happened: who did what to what, how it ended, and when (Unix seconds)."""

    actor: str
    action: str
    target: str
    outcome: str
    at: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record sealed into the chain."""

    seq: int
    record: AuditRecord
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The (seq, hash) of the last entry as recorded beside the chain, and its seal.

    `seal` is `head_seal(seq, hash, key)` with a key, empty without one.
    """

    seq: int
    hash: str
    seal: str = ""


def head_seal(seq: int, hash_: str, key: bytes) -> str:
    """HMAC-SHA256 under `key` over the head; empty without a key (it would prove nothing)."""
    if not key:
        return ""
    body = json.dumps(["audit_head", seq, hash_], separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def sealed_head(entry: AuditEntry, key: bytes = b"") -> AuditHead:
    """The head that records `entry` as the last one, sealed under `key`."""
    return AuditHead(entry.seq, entry.hash, head_seal(entry.seq, entry.hash, key))


def head_problem(head: AuditHead | None, key: bytes) -> str | None:
    """Why a keyed head cannot be trusted, or None (always None without a key)."""
    if not key or head is None:
        return None
    if hmac.compare_digest(head.seal, head_seal(head.seq, head.hash, key)):
        return None
    return (
        f"row {head.seq}: the recorded head is not sealed with the key (rows deleted from the "
        "end and the head rewritten, or the key changed)"
    )


def entry_hash(seq: int, record: AuditRecord, prev_hash: str, key: bytes = b"") -> str:
    """SHA-256 (HMAC-SHA256 with `key`) over the entry's fields and the previous hash, as JSON."""
    body = json.dumps(
        [
            seq,
            record.actor,
            record.action,
            record.target,
            record.outcome,
            repr(record.at),
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if key:
        return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(body.encode()).hexdigest()


def seal(record: AuditRecord, seq: int, prev: str, key: bytes = b"") -> AuditEntry:
    """The entry that follows an entry whose hash is `prev` (keyed with `key`, if any)."""
    return AuditEntry(seq, record, prev, entry_hash(seq, record, prev, key))


def verify(
    entries: Sequence[AuditEntry], head: AuditHead | None = None, key: bytes = b""
) -> list[str]:
    """Each break in the chain, naming the row; empty when the chain is intact.

    `entries` are in storage order (by row id), as read back in the same snapshot as `head`,
    the last entry as recorded separately, which reveals deleted rows at the end (None: no
    head is recorded, which only an empty log may lack). `key` must be the key the chain and
    the head were sealed with (empty for plain SHA-256).
    """
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for e in entries:
        if e.seq != expected_seq:
            if e.seq > expected_seq:
                problems.append(
                    f"row {e.seq}: rows {expected_seq}..{e.seq - 1} are missing (deleted?)"
                )
            else:
                problems.append(f"row {e.seq}: out of order after row {expected_seq - 1}")
        if not hmac.compare_digest(e.hash, entry_hash(e.seq, e.record, e.prev_hash, key)):
            problems.append(f"row {e.seq}: contents do not match its hash (edited)")
        elif e.prev_hash != prev:
            problems.append(
                f"row {e.seq}: does not follow the row before it (reordered or deleted)"
            )
        prev = e.hash
        expected_seq = e.seq + 1
    if head is None:
        if entries:
            problems.append(
                f"row {expected_seq - 1}: no head is recorded (deleted, so that rows deleted "
                "from the end would not show)"
            )
        return problems
    if (head.seq, head.hash) != (expected_seq - 1, prev):
        if head.seq > expected_seq - 1:
            problems.append(
                f"row {head.seq}: rows {expected_seq}..{head.seq} are missing (deleted)"
            )
        else:
            problems.append(f"row {head.seq}: the last row does not match the recorded head")
    sealed = head_problem(head, key)
    if sealed:
        problems.append(sealed)
    return problems
