"""The audit log as a hash chain: each entry's hash covers its fields and the previous hash.

Editing a row changes its hash; deleting or reordering rows breaks a sequence number or a
`prev_hash` link. `verify` names the first row where the chain stops holding.

Without a key the hash is plain SHA-256, which anyone can recompute: it catches accidents and
careless edits, not someone with write access to the database who rewrites rows, recomputes
the chain and updates the head. With a key (`[bot.audit] key` or `key_file`) each hash is an
HMAC-SHA256, which cannot be recomputed without the key, so such a rewrite fails `verify`.

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
    entries: Sequence[AuditEntry], head: tuple[int, str] | None = None, key: bytes = b""
) -> list[str]:
    """Each break in the chain, naming the row; empty when the chain is intact.

    `entries` are in storage order (by row id), as read back; `head` is the (seq, hash) of the
    last entry as recorded separately, which reveals deleted rows at the end. `key` must be
    the key the chain was sealed with (empty for plain SHA-256).
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
    if head is not None and head != (expected_seq - 1, prev):
        if head[0] > expected_seq - 1:
            problems.append(f"row {head[0]}: rows {expected_seq}..{head[0]} are missing (deleted)")
        else:
            problems.append(f"row {head[0]}: the last row does not match the recorded head")
    return problems
