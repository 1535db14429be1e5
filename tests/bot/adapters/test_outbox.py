"""The alert outbox in SQLite: committed, deduplicated, ordered per alert, restart-proof."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.outbox import SqliteOutbox
from bot.adapters.sqlite import Database
from bot.services.ports import OutboxEvent, OutboxUnavailable


def event(fp: str, status: str = "firing", starts: str = "2026-12-03T10:00:00Z") -> OutboxEvent:
    """An outbox event with a dedupe key made as the domain makes it."""
    return OutboxEvent(f"{fp}|{status}|{starts}", fp, status, starts, '{"a": 1}', "{}")


async def test_rows_are_committed_and_duplicates_are_counted(tmp_path: Path) -> None:
    """A second delivery of the same state change (retry, cluster peer) stores nothing."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    assert await outbox.enqueue([event("a"), event("b"), event("a")], 100.0) == (2, 1)
    assert await outbox.enqueue([event("a"), event("a", "resolved")], 101.0) == (1, 1)
    await db.close()
    # committed before enqueue returned: a new connection (a restarted bot) sees every row
    db = await Database.open(tmp_path / "bot.sqlite3")
    rows = await SqliteOutbox(db).pending(200.0, 100)
    assert [(r.event.fingerprint, r.event.status) for r in rows] == [
        ("a", "firing"), ("b", "firing"), ("a", "resolved"),
    ]  # fmt: skip
    stats = await SqliteOutbox(db).stats(200.0)
    assert (stats.depth, stats.oldest_age_seconds) == (3, 100.0)
    await db.close()


async def test_a_held_row_holds_back_later_rows_of_its_alert_only(tmp_path: Path) -> None:
    """After a failed send, an alert's resolution cannot overtake its firing; others go on."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    await outbox.enqueue([event("a"), event("b"), event("a", "resolved")], 0.0)
    first = (await outbox.pending(0.0, 10))[0]
    await outbox.retry([first.id], next_attempt=60.0, error="503")
    assert [r.event.fingerprint for r in await outbox.pending(10.0, 10)] == ["b"]
    due = await outbox.pending(60.0, 10)
    assert [(r.event.fingerprint, r.attempts) for r in due] == [("a", 1), ("b", 0), ("a", 0)]
    await db.close()


async def test_planned_message_survives_until_sent(tmp_path: Path) -> None:
    """plan_message commits the nonce and the episodes; sent records ids and delivers rows."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    await outbox.enqueue([event("a"), event("b")], 0.0)
    rows = await outbox.pending(0.0, 10)
    mid = await outbox.plan_message("channel:5", 5, "nonce-1", rows, 1.0)
    planned = await outbox.message(mid)
    assert planned is not None and planned.message_ids == () and planned.nonce == "nonce-1"
    assert [c.fingerprint for c in await outbox.cards(mid)] == ["a", "b"]
    assert len(await outbox.pending(2.0, 10)) == 2  # not delivered until sent
    await outbox.sent(mid, [111, 112], [r.id for r in rows], 3.0)
    sent = await outbox.message(mid)
    assert sent is not None and sent.message_ids == (111, 112)
    assert await outbox.pending(4.0, 10) == []
    assert (await outbox.stats(4.0)).depth == 0
    await db.close()


async def test_annotations_mark_the_message_for_a_refresh(tmp_path: Path) -> None:
    """An ack is stored with the episode and its message is queued for re-rendering."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    await outbox.enqueue([event("a")], 0.0)
    rows = await outbox.pending(0.0, 10)
    mid = await outbox.plan_message("console", 0, "n", rows, 0.0)
    assert await outbox.dirty_messages() == []
    await outbox.sent(mid, [1], [rows[0].id], 0.0)
    assert await outbox.annotate("a", rows[0].event.starts_at, acked_by="ann", acked_at=5.0) == mid
    assert await outbox.dirty_messages() == [mid]
    latest = await outbox.latest("a")
    assert latest is not None and (latest.acked_by, latest.acked_at) == ("ann", 5.0)
    await outbox.clean(mid)
    assert await outbox.dirty_messages() == []
    with pytest.raises(ValueError, match="not an annotation"):
        await outbox.annotate("a", rows[0].event.starts_at, status="resolved")
    await db.close()


async def test_dead_letters_leave_the_queue_and_are_counted(tmp_path: Path) -> None:
    """A dead-lettered row is not pending any more and shows in the dead count."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    await outbox.enqueue([event("a"), event("b")], 0.0)
    rows = await outbox.pending(0.0, 10)
    await outbox.dead([rows[0].id], "404 Unknown Channel", 1.0)
    stats = await outbox.stats(1.0)
    assert (stats.depth, stats.dead) == (1, 1)
    await db.close()


async def test_storage_failure_is_an_outbox_error(tmp_path: Path) -> None:
    """A database that cannot be written raises OutboxUnavailable (the receiver answers 503)."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    await db.close()
    with pytest.raises(OutboxUnavailable, match="cannot store alerts"):
        await outbox.enqueue([event("a")], 0.0)


async def test_concurrent_enqueues_share_one_commit_and_keep_their_own_counts(
    tmp_path: Path,
) -> None:
    """Group commit: 20 notifications at once take far fewer than 20 trips to the database,
    each call still gets its own counts (a peer's duplicate in the same batch included), and
    every row is committed when the calls return."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    trips = 0
    run = db.run

    async def counted(fn: Any) -> Any:
        nonlocal trips
        trips += 1
        return await run(fn)

    db.run = counted  # type: ignore[method-assign]
    calls = [outbox.enqueue([event(f"n{i}"), event(f"m{i}")], 1.0) for i in range(20)]
    calls.append(outbox.enqueue([event("n0"), event("z")], 1.0))  # a peer's copy of n0
    results = await asyncio.gather(*calls)
    assert results == [(2, 0)] * 20 + [(1, 1)]
    assert trips <= 3
    other = await Database.open(tmp_path / "bot.sqlite3")
    assert (await SqliteOutbox(other).stats(2.0)).depth == 41
    await other.close()
    await db.close()


async def test_a_failed_group_commit_fails_every_call_in_it(tmp_path: Path) -> None:
    """When the shared transaction cannot commit, each waiting call raises OutboxUnavailable."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    await db.close()
    results = await asyncio.gather(
        *(outbox.enqueue([event(f"n{i}")], 0.0) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, OutboxUnavailable) for r in results)


async def test_one_bad_call_in_a_group_commit_fails_only_itself(tmp_path: Path) -> None:
    """A call whose rows cannot be stored fails alone: the calls committed with it are
    stored, and calls queued behind it are not left waiting forever."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    bad = OutboxEvent("x|firing|t", "x", "firing", "t", '{"a": "\ud800"}', "{}")
    results = await asyncio.wait_for(
        asyncio.gather(
            outbox.enqueue([bad], 0.0),
            outbox.enqueue([event("a")], 0.0),
            return_exceptions=True,
        ),
        5,
    )
    assert isinstance(results[0], ValueError) and results[1] == (1, 0)
    late = asyncio.create_task(outbox.enqueue([event("b")], 0.0))
    assert await asyncio.wait_for(late, 5) == (1, 0)
    await db.close()
