"""The hash chain names edited, deleted and reordered rows."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.audit import GENESIS, AuditEntry, AuditRecord, seal, verify


def _chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        e = seal(AuditRecord(f"user{i}", "sync", "", "ok", 1000.0 + i), i, prev)
        out.append(e)
        prev = e.hash
    return out


def test_intact_chain_verifies() -> None:
    """An untouched chain has no problems, with or without its head."""
    chain = _chain(5)
    assert verify(chain) == []
    assert verify(chain, (5, chain[-1].hash)) == []


def test_edited_row_is_named() -> None:
    """Changing one field of row 3 is reported at row 3."""
    chain = _chain(5)
    chain[2] = replace(chain[2], record=replace(chain[2].record, outcome="refused"))
    assert verify(chain) == ["row 3: contents do not match its hash (edited)"]


def test_deleted_rows_are_named_in_the_middle_and_at_the_end() -> None:
    """A gap names the missing rows; a missing tail shows against the recorded head."""
    chain = _chain(5)
    assert "rows 3..3 are missing" in verify(chain[:2] + chain[3:])[0]
    assert "rows 5..5 are missing" in verify(chain[:4], (5, chain[-1].hash))[0]


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
    assert verify(chain, (3, chain[-1].hash), KEY) == []
    assert verify(chain, key=b"other" * 4) != []
    assert verify(chain) != []


def test_a_rewrite_recomputed_without_the_key_is_detected() -> None:
    """Rewriting a keyed chain and recomputing it (without the key) fails verification.

    Without a key the same rewrite passes: the documented limit of an unkeyed chain.
    """
    forged = list(_chain(4))
    forged[1] = replace(forged[1], record=replace(forged[1].record, outcome="refused"))
    forged = _reseal(forged)  # the attacker recomputes the plain SHA-256 chain and head
    head = (4, forged[-1].hash)
    assert verify(forged, head) == []  # unkeyed: undetectable
    problems = verify(forged, head, KEY)
    assert problems and problems[0].startswith("row 1: contents do not match")
