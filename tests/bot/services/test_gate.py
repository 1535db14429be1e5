"""The gate: role check, rate limit, back-off and audit, on a real SQLite audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.sqlite import Database, SqliteAuditRepository
from bot.domain import commands as catalog
from bot.domain.permissions import Actor, Role, RoleMap
from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter
from bot.services.gate import AUDIT_UNAVAILABLE, Gate

VIEWER = Actor(1, "vic")
ADMIN = Actor(2, "ada", frozenset({70}))


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[SqliteAuditRepository]:
    """A real audit repository on a temporary database."""
    db = await Database.open(tmp_path / "a.sqlite3")
    yield SqliteAuditRepository(db)
    await db.close()


def _gate(
    repo: SqliteAuditRepository, clock: Clock, capacity: int = 100, monotonic: Clock | None = None
) -> Gate:
    return Gate(
        RoleMap(roles={70: Role.ADMIN}, default=Role.VIEWER),
        RateLimiter(
            {"query": BucketRule(capacity, 60), "admin": BucketRule(100, 60)},
            Backoff(after=2, base_seconds=10),
        ),
        repo,
        clock=clock,
        monotonic=monotonic or clock,
    )


async def test_refusal_is_audited_and_names_the_role(repo: SqliteAuditRepository) -> None:
    """A viewer asking for an admin command is refused ephemerally and the refusal is logged."""
    gate = _gate(repo, Clock())
    d = await gate.admit(VIEWER, catalog.SYNC, "")
    assert not d.allowed and d.refusal is not None and d.refusal.ephemeral
    assert "**admin**" in d.refusal.text
    (entry,) = await repo.entries()
    assert entry.record.action == "sync" and entry.record.outcome == "refused: needs admin"
    assert entry.record.actor == "vic (1)" and entry.record.at == 1000.0


async def test_privileged_action_is_audited_before_it_runs(repo: SqliteAuditRepository) -> None:
    """An admitted privileged action writes 'started', then its outcome."""
    gate = _gate(repo, Clock())
    d = await gate.admit(ADMIN, catalog.LIMITS_RESET, "user=1")
    assert d.allowed
    await gate.completed(ADMIN, catalog.LIMITS_RESET, "user=1", "ok")
    assert [e.record.outcome for e in await repo.entries()] == ["started", "ok"]
    assert (await gate.admit(VIEWER, catalog.STATUS, "")).allowed
    assert len(await repo.entries()) == 2  # unprivileged success is not audited


async def test_audit_failure_refuses_the_privileged_action(tmp_path: Path) -> None:
    """When the audit log cannot be written, privileged actions are refused, viewing is not."""
    db = await Database.open(tmp_path / "a.sqlite3")
    gate = _gate(SqliteAuditRepository(db), Clock())
    await db.close()  # every later write fails for real
    d = await gate.admit(ADMIN, catalog.SYNC, "")
    assert not d.allowed and d.refusal is not None and "audit log" in d.refusal.text
    assert (await gate.admit(ADMIN, catalog.STATUS, "")).allowed


async def test_rate_limit_and_backoff_hit_only_the_flooding_user(
    repo: SqliteAuditRepository,
) -> None:
    """A user over the limit is refused and backs off; another user still gets through."""
    clock = Clock()
    gate = _gate(repo, clock, capacity=2)
    flood = Actor(5, "flood")
    results = [(await gate.admit(flood, catalog.STATUS, "")).allowed for _ in range(4)]
    assert results == [True, True, False, False]
    d = await gate.admit(flood, catalog.STATUS, "")
    assert d.reason == "rate limited (backoff)" and d.refusal is not None
    assert "Try again in" in d.refusal.text
    assert (await gate.admit(VIEWER, catalog.STATUS, "")).allowed
    clock.now += 61
    assert (await gate.admit(flood, catalog.STATUS, "")).allowed


async def test_undeclared_commands_are_refused(repo: SqliteAuditRepository) -> None:
    """A command without a catalogue entry is refused even to an admin."""
    d = await _gate(repo, Clock()).admit(ADMIN, None, "")
    assert not d.allowed and d.reason == "undeclared"


async def test_decide_touches_no_storage_and_record_writes_later(tmp_path: Path) -> None:
    """`decide` answers on a closed database; `record` then writes, refusing if it cannot."""
    db = await Database.open(tmp_path / "a.sqlite3")
    gate = _gate(SqliteAuditRepository(db), Clock())
    await db.close()  # any write would fail now
    refused = gate.decide(VIEWER, catalog.SYNC, "")
    admitted = gate.decide(ADMIN, catalog.SYNC, "")
    assert not refused.allowed and refused.record is not None
    assert refused.record.outcome == "refused: needs admin"
    assert admitted.allowed and admitted.record is not None
    assert admitted.record.outcome == "started"
    assert gate.decide(VIEWER, catalog.STATUS, "").record is None  # nothing to audit
    still = await gate.record(refused)
    assert not still.allowed and still.refusal == refused.refusal and still.record is None
    blocked = await gate.record(admitted)
    assert not blocked.allowed and blocked.reason == "audit unavailable"
    assert blocked.refusal is not None and blocked.refusal.text == AUDIT_UNAVAILABLE


async def test_a_wall_clock_step_back_does_not_stall_rate_limits(
    repo: SqliteAuditRepository,
) -> None:
    """Rate limits run on the monotonic clock: the wall clock jumping back an hour changes nothing.

    Audit rows keep the wall time.
    """
    wall, mono = Clock(), Clock()
    gate = _gate(repo, wall, capacity=2, monotonic=mono)
    user = Actor(6, "steady")
    assert all([(await gate.admit(user, catalog.STATUS, "")).allowed for _ in range(2)])
    wall.now -= 3600  # NTP (or a person) sets the clock back an hour
    mono.now += 31  # while one token's worth of real time passes
    assert (await gate.admit(user, catalog.STATUS, "")).allowed
    d = await gate.admit(VIEWER, catalog.SYNC, "")
    assert d.record is None and (await repo.entries())[-1].record.at == wall.now
