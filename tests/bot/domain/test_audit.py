"""The hash chain names edited, deleted and reordered rows."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.audit import (
    GENESIS,
    AuditEntry,
    AuditHead,
    AuditRecord,
    head_seal,
    seal,
    sealed_head,
    verify,
)


def _chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        e = seal(AuditRecord(f"user{i}", "sync", "", "ok", 1000.0 + i), i, prev)
        out.append(e)
        prev = e.hash
    return out


def test_intact_chain_verifies() -> None:
    """An untouched chain with its head has no problems; an empty log needs no head."""
    chain = _chain(5)
    assert verify(chain, AuditHead(5, chain[-1].hash)) == []
    assert verify([], None) == []


def test_edited_row_is_named() -> None:
    """Changing one field of row 3 is reported at row 3."""
    chain = _chain(5)
    chain[2] = replace(chain[2], record=replace(chain[2].record, outcome="refused"))
    assert verify(chain, sealed_head(chain[-1])) == [
        "row 3: contents do not match its hash (edited)"
    ]


def test_deleted_rows_are_named_in_the_middle_and_at_the_end() -> None:
    """A gap names the missing rows; a missing tail shows against the recorded head."""
    chain = _chain(5)
    assert "rows 3..3 are missing" in verify(chain[:2] + chain[3:])[0]
    assert "rows 5..5 are missing" in verify(chain[:4], AuditHead(5, chain[-1].hash))[0]


def test_reordered_rows_are_named() -> None:
    """Swapping two rows breaks the order at the moved row."""
    chain = _chain(4)
    swapped = [chain[0], chain[2], chain[1], chain[3]]
    problems = verify(swapped)
    assert problems and problems[0].startswith("row 3:")


KEY = b"k" * 32


def _reseal(chain: list[AuditEntry], key: bytes = b"") -> list[AuditEntry]:
    """What someone with write access does: rewrite the chain, recomputing every hash."""
    out: list[AuditEntry] = []
    prev = GENESIS
    for e in chain:
        new = seal(e.record, e.seq, prev, key)
        out.append(new)
        prev = new.hash
    return out


def test_keyed_chain_verifies_only_with_its_key() -> None:
    """An HMAC-sealed chain verifies with its key, and not without it or with another."""
    chain = _reseal(_chain(3), KEY)
    assert verify(chain, sealed_head(chain[-1], KEY), KEY) == []
    assert verify(chain, key=b"other" * 4) != []
    assert verify(chain) != []


def test_a_rewrite_recomputed_without_the_key_is_detected() -> None:
    """Rewriting a keyed chain and recomputing it (without the key) fails verification.

    Without a key the same rewrite passes: the documented limit of an unkeyed chain.
    """
    forged = list(_chain(4))
    forged[1] = replace(forged[1], record=replace(forged[1].record, outcome="refused"))
    forged = _reseal(forged)  # the attacker recomputes the plain SHA-256 chain and head
    head = sealed_head(forged[-1])
    assert verify(forged, head) == []  # unkeyed: undetectable
    problems = verify(forged, head, KEY)
    assert problems and problems[0].startswith("row 1: contents do not match")


def test_a_missing_head_is_reported() -> None:
    """Entries without a recorded head fail: deleting the head must not hide a truncation."""
    chain = _chain(3)
    problems = verify(chain[:2], None)
    assert problems == [
        "row 2: no head is recorded (deleted, so that rows deleted from the end would not show)"
    ]


def test_truncation_with_a_rewritten_head_is_detected_only_with_a_key() -> None:
    """Rows deleted from the end and the head pointed at the new last row: caught under a key.

    Without a key the head carries no seal (anyone could compute one), so the same truncation
    verifies: the documented limit that an external copy of the head covers.
    """
    keyed = _reseal(_chain(5), KEY)
    intact = sealed_head(keyed[-1], KEY)
    assert verify(keyed, intact, KEY) == []
    truncated = keyed[:3]
    rewritten = AuditHead(3, truncated[-1].hash, intact.seal)  # the old seal, new seq/hash
    assert verify(truncated, rewritten, KEY) == [
        "row 3: the recorded head is not sealed with the key (rows deleted from the end and "
        "the head rewritten, or the key changed)"
    ]
    unsealed = AuditHead(3, truncated[-1].hash)
    assert verify(truncated, unsealed, KEY) != []
    plain = _chain(5)[:3]
    assert verify(plain, sealed_head(plain[-1])) == []  # unkeyed: undetectable


def test_the_head_seal_depends_on_key_seq_and_hash() -> None:
    """A seal made for one head, or under another key, does not fit another."""
    assert head_seal(1, "a" * 64, b"") == ""
    seals = {head_seal(1, "a" * 64, KEY), head_seal(2, "a" * 64, KEY)}
    seals |= {head_seal(1, "b" * 64, KEY), head_seal(1, "a" * 64, b"x" * 32)}
    assert len(seals) == 4
