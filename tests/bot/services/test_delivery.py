"""The delivery worker over a real SQLite outbox: packing, edit in place, order under
failures, dead letters, crash recovery with the planned nonce, refreshes after an ack.

The target here records what it is asked to do and fails on demand; the Discord targets
themselves are tested on the wire (tests/integration/test_delivery_wire.py) and in simcord.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.outbox import SqliteOutbox
from bot.adapters.sqlite import Database
from bot.domain.alerts.model import Alert, parse_notification
from bot.domain.alerts.routing import Destination, QuietHours, Route, parse_matcher
from bot.domain.messages import Image, Message, flatten_text, validate
from bot.services import delivery
from bot.services.alert_ingest import AlertIngest
from bot.services.delivery import DeliveryError, DeliveryWorker, Routing
from tests.bot.domain.alerts.test_model import PAYLOAD


@dataclass
class Recorder:
    """An AlertTarget that records posts and edits and fails when told to."""

    buttons: bool = True
    graphs: bool = False
    posts: list[tuple[Message, str]] = field(default_factory=list)
    edits: list[tuple[tuple[int, ...], Message]] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)
    failures: list[DeliveryError | BaseException] = field(default_factory=list)
    next_id: int = 1000

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Record a post."""
        self._maybe_fail()
        assert validate(msg) == [] or msg.embeds, validate(msg)
        self.posts.append((msg, nonce))
        self.next_id += 1
        return [self.next_id]

    async def edit(self, ids: Sequence[int], msg: Message) -> list[int]:
        """Record an edit."""
        self._maybe_fail()
        self.edits.append((tuple(ids), msg))
        return list(ids)

    async def reply(self, ids: Sequence[int], msg: Message) -> None:
        """Record a reply."""
        self.replies.append(msg)


class Metrics:
    """Counts what the worker reports."""

    def __init__(self) -> None:
        self.counts = {"received": 0, "deduplicated": 0, "delivered": 0, "retried": 0, "dead": 0}
        self.depth = -1

    def received(self, n: int) -> None:
        self.counts["received"] += n

    def deduplicated(self, n: int) -> None:
        self.counts["deduplicated"] += n

    def delivered(self, n: int) -> None:
        self.counts["delivered"] += n

    def retried(self, n: int) -> None:
        self.counts["retried"] += n

    def dead_lettered(self, n: int) -> None:
        self.counts["dead"] += n

    def outbox(self, depth: int, oldest_age: float) -> None:
        self.depth = depth


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = 1_796_292_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def notification(*alerts: tuple[str, str, str], status: str = "firing") -> Any:
    """A payload with alerts (fingerprint, instance, status)."""
    doc = copy.deepcopy(PAYLOAD)
    template = doc["alerts"][0]
    doc["alerts"] = []
    for fp, instance, st in alerts:
        a = copy.deepcopy(template)
        a["fingerprint"], a["status"] = fp, st
        a["labels"] = {**a["labels"], "instance": instance}
        if st == "resolved":
            a["endsAt"] = "2026-12-03T10:12:00Z"
        doc["alerts"].append(a)
    doc["status"] = status
    return parse_notification(doc)


@dataclass
class World:
    """Outbox, ingest, worker and target wired together."""

    outbox: SqliteOutbox
    ingest: AlertIngest
    worker: DeliveryWorker
    target: Recorder
    metrics: Metrics
    clock: Clock
    admin: Recorder


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """A worker on a real database, its one target recording."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    metrics = Metrics()
    clock = Clock()
    target, admin = Recorder(), Recorder()
    routing = Routing(ping_role_ids={"warning": (55,)}, allowed_ping_role_ids=(55,))
    worker = DeliveryWorker(outbox, lambda d: target, routing, metrics, admin_target=admin,
                            clock=clock, retry_base=10, retry_max=100)  # fmt: skip
    yield World(outbox, AlertIngest(outbox, metrics, clock=clock), worker, target, metrics,
                clock, admin)  # fmt: skip
    await db.close()


async def test_new_alerts_are_packed_and_a_resolution_edits_in_place(world: World) -> None:
    """Two firing alerts: one message. One resolves: that message is edited, nothing new."""
    await world.ingest.accept(
        notification(("aaaa", "nas:9100", "firing"), ("bbbb", "pi:9100", "firing"))
    )
    await world.worker.drain_once()
    assert len(world.target.posts) == 1
    first, _ = world.target.posts[0]
    text = flatten_text([first])
    assert "nas:9100" in text and "pi:9100" in text
    assert first.ping_role_ids == (55,)
    await world.ingest.accept(notification(("aaaa", "nas:9100", "resolved"), status="resolved"))
    await world.worker.drain_once()
    assert len(world.target.posts) == 1 and len(world.target.edits) == 1
    ids, edited = world.target.edits[0]
    assert ids == (1001,)
    assert "RESOLVED" in flatten_text([edited]) and edited.ping_role_ids == ()
    assert world.metrics.counts["delivered"] == 3 and world.metrics.depth == 0


async def test_transient_failures_hold_the_rows_and_keep_order(world: World) -> None:
    """A 5xx holds firing and resolution; after the back-off both go, firing first."""
    world.target.failures.append(DeliveryError("Discord answered 503", final=False))
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    await world.ingest.accept(notification(("aaaa", "nas:9100", "resolved"), status="resolved"))
    await world.worker.drain_once()
    assert world.target.posts == [] and world.metrics.counts["retried"] == 2
    # a later alert for the same destination does not overtake the held ones
    await world.ingest.accept(notification(("bbbb", "pi:9100", "firing")))
    await world.worker.drain_once()  # not due yet: nothing happens
    assert world.target.posts == []
    world.clock.now += 11
    await world.worker.drain_once()
    # the planned message (nas) first, then the later alert's; the resolution edits nas's
    assert len(world.target.posts) == 2 and len(world.target.edits) == 1
    first, second = (flatten_text([m]) for m, _ in world.target.posts)
    assert "nas:9100" in first and "pi:9100" in second
    assert "RESOLVED" in flatten_text([world.target.edits[0][1]])
    assert world.metrics.depth == 0


async def test_final_refusals_dead_letter_tell_admins_once_and_go_on(world: World) -> None:
    """A 404 dead-letters that message's alerts; the admins hear once; the next goes out."""
    world.target.failures.append(DeliveryError("Discord answered 404 Unknown Channel", final=True))
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    await world.worker.drain_once()
    assert world.metrics.counts["dead"] == 1 and len(world.admin.posts) == 1
    assert "404" in world.admin.posts[0][0].text and "HostHighCpu" in world.admin.posts[0][0].text
    stats = await world.outbox.stats(world.clock())
    assert (stats.depth, stats.dead) == (0, 1)
    await world.ingest.accept(notification(("bbbb", "pi:9100", "firing")))
    await world.worker.drain_once()
    assert len(world.target.posts) == 1


class Crash(BaseException):
    """Stands for the process dying inside the send."""


async def test_a_crash_after_planning_resends_with_the_same_nonce(world: World) -> None:
    """Killed between commit and the recorded answer: the retry reuses the planned nonce, so
    Discord (enforce_nonce) returns the message it already made instead of a second one."""
    world.target.failures.append(Crash())
    await world.ingest.accept(
        notification(("aaaa", "nas:9100", "firing"), ("bbbb", "pi:9100", "firing"))
    )
    with pytest.raises(Crash):
        await world.worker.drain_once()
    planned = await world.outbox.latest("aaaa")
    assert planned is not None and planned.message is not None
    msg_row = await world.outbox.message(planned.message)
    assert msg_row is not None and msg_row.message_ids == ()
    await world.worker.drain_once()  # the restarted worker
    assert len(world.target.posts) == 1
    msg, nonce = world.target.posts[0]
    assert nonce == msg_row.nonce
    assert "pi:9100" in flatten_text([msg]) and world.metrics.depth == 0


async def test_an_ack_re_renders_the_message(world: World) -> None:
    """Annotating an episode marks its message; the worker edits it to show who acked."""
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    await world.worker.drain_once()
    record = await world.outbox.latest("aaaa")
    assert record is not None
    await world.outbox.annotate("aaaa", record.starts_at, acked_by="olga", acked_at=world.clock())
    await world.worker.drain_once()
    assert len(world.target.edits) == 1 and "olga" in flatten_text([world.target.edits[0][1]])
    assert await world.outbox.dirty_messages() == []


async def test_routes_and_quiet_hours_decide_channel_and_pings(tmp_path: Path) -> None:
    """The first matching route's destination; no warning pings in quiet hours."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    targets: dict[Destination, Recorder] = {}
    routing = Routing(
        routes=(Route((parse_matcher('instance=~"nas.*"'),), Destination(channel_id=7)),),
        default=Destination(channel_id=8),
        ping_role_ids={"warning": (55,)},
        allowed_ping_role_ids=(55,),
        quiet=QuietHours.parse("00:00", "23:59", "UTC"),
    )
    worker = DeliveryWorker(outbox, lambda d: targets.setdefault(d, Recorder()), routing, Metrics())
    ingest = AlertIngest(outbox, Metrics())
    await ingest.accept(notification(("aaaa", "nas:9100", "firing"), ("bbbb", "pi:9100", "firing")))
    await worker.drain_once()
    assert {d.channel_id for d in targets} == {7, 8}
    for t in targets.values():
        assert len(t.posts) == 1 and t.posts[0][0].ping_role_ids == ()
    await db.close()


class Graphs:
    """A graph source returning a fixed PNG."""

    async def image(self, alert: Alert, now: float) -> Image | None:
        return Image(f"alert-{alert.fingerprint}.png", b"\x89PNG fake")


async def test_targets_without_buttons_get_the_graph_attached(tmp_path: Path) -> None:
    """Console and webhook targets (no Graph button) carry each alert's graph image."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    target = Recorder(buttons=False, graphs=True)
    worker = DeliveryWorker(outbox, lambda d: target, Routing(), Metrics(), graphs=Graphs())
    await AlertIngest(outbox, Metrics()).accept(notification(("aaaa", "nas:9100", "firing")))
    await worker.drain_once()
    msg, _ = target.posts[0]
    assert [i.filename for i in msg.images] == ["alert-aaaa.png"] and msg.rows == ()
    await db.close()


async def test_a_refused_resend_dead_letters_only_its_own_alerts(world: World) -> None:
    """A planned message refused for good on its resend takes only its own alerts with it;
    a later, unrelated alert for the same destination is still posted."""
    world.target.failures.append(Crash())
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    with pytest.raises(Crash):
        await world.worker.drain_once()
    await world.ingest.accept(notification(("bbbb", "pi:9100", "firing")))
    world.target.failures.append(DeliveryError("Discord answered 400", final=True))
    await world.worker.drain_once()  # the restarted worker
    assert world.metrics.counts["dead"] == 1
    assert len(world.target.posts) == 1 and "pi:9100" in flatten_text([world.target.posts[0][0]])
    assert (await world.outbox.stats(world.clock())).depth == 0


async def test_an_unexpected_error_does_not_stop_the_worker(world: World) -> None:
    """A bug-shaped exception in one pass is logged; the worker keeps running and delivers."""
    world.worker.idle_seconds = 0.05
    world.worker.gather_seconds = 0
    calls: list[Destination] = []

    def target_for(d: Destination) -> Recorder:
        calls.append(d)
        if len(calls) == 1:
            raise RuntimeError("a bug choosing the target")
        return world.target

    world.worker.target_for = target_for
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    task = asyncio.create_task(world.worker.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if world.target.posts:
                break
        assert not task.done(), task.exception() if task.done() else None
        assert len(world.target.posts) == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_held_destination_does_not_starve_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A destination holding a whole batch of rows for a retry does not keep another
    destination's alerts from going out."""
    monkeypatch.setattr(delivery, "BATCH", 3)
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    clock = Clock()
    targets: dict[Destination, Recorder] = {}
    routing = Routing(
        routes=(Route((parse_matcher('instance=~"nas.*"'),), Destination(channel_id=7)),),
        default=Destination(channel_id=8),
    )

    def target_for(d: Destination) -> Recorder:
        return targets.setdefault(d, Recorder())

    down = target_for(Destination(channel_id=7))
    down.failures.extend(DeliveryError("503", final=False) for _ in range(10))
    worker = DeliveryWorker(outbox, target_for, routing, Metrics(), clock=clock)
    ingest = AlertIngest(outbox, Metrics(), clock=clock)
    for n in range(4):
        await ingest.accept(notification((f"nas{n}", f"nas{n}:9100", "firing")))
    await worker.drain_once()  # channel 7 fails: its rows are held
    await ingest.accept(notification(("pi", "pi:9100", "firing")))
    await worker.drain_once()
    up = targets[Destination(channel_id=8)]
    assert len(up.posts) == 1 and "pi:9100" in flatten_text([up.posts[0][0]])
    await db.close()


async def test_a_target_that_raises_a_bug_holds_only_its_destination(tmp_path: Path) -> None:
    """An unexpected exception from one destination's target holds its rows for a retry
    (with back-off) and the other destination's alerts still go out in the same pass."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    outbox = SqliteOutbox(db)
    targets: dict[Destination, Recorder] = {}
    routing = Routing(
        routes=(Route((parse_matcher('instance=~"nas.*"'),), Destination(channel_id=7)),),
        default=Destination(channel_id=8),
    )

    def target_for(d: Destination) -> Recorder:
        return targets.setdefault(d, Recorder())

    target_for(Destination(channel_id=7)).failures.append(TypeError("a bug in a target"))
    metrics = Metrics()
    worker = DeliveryWorker(outbox, target_for, routing, metrics)
    await AlertIngest(outbox, Metrics()).accept(
        notification(("aaaa", "nas:9100", "firing"), ("bbbb", "pi:9100", "firing"))
    )
    await worker.drain_once()
    assert len(targets[Destination(channel_id=8)].posts) == 1
    assert metrics.counts["retried"] == 1 and metrics.counts["dead"] == 0
    await db.close()


async def test_a_message_cut_off_after_some_parts_is_completed_not_posted_again(
    world: World,
) -> None:
    """A 5xx after the first part of a split message landed: the retry edits that part and
    adds the rest, instead of posting the whole message again (a webhook has no nonce, and
    Discord's nonce check lasts only minutes)."""
    world.target.failures.append(DeliveryError("Discord answered 503", final=False, ids=(777,)))
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    await world.worker.drain_once()
    assert world.target.posts == [] and world.metrics.counts["retried"] == 1
    world.clock.now += 11
    await world.worker.drain_once()
    assert world.target.posts == []
    assert [ids for ids, _ in world.target.edits] == [(777,)]
    assert world.metrics.depth == 0


async def test_delivered_rows_are_pruned_and_a_repeat_then_edits(world: World) -> None:
    """Delivered rows older than a week are deleted (the outbox does not grow forever); a
    repeat of the pruned firing edits its message again, nothing is posted twice."""
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    await world.worker.drain_once()
    assert len(world.target.posts) == 1

    async def rows() -> int:
        return int(
            await world.outbox.db.run(
                lambda c: c.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0]
            )
        )

    assert await rows() == 1
    world.clock.now += 8 * 86400
    await world.worker.drain_once()
    assert await rows() == 0
    assert (await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))).stored == 1
    await world.worker.drain_once()
    assert len(world.target.posts) == 1 and len(world.target.edits) == 1


async def test_a_refused_firing_takes_its_resolution_with_it_and_one_notice(world: World) -> None:
    """Firing and resolution in one pass, the firing refused for good (404): both are dead
    letters at once and the admins hear once, not again for the resolution's resend."""
    world.target.failures.extend(
        DeliveryError("Discord answered 404 Unknown Channel", final=True) for _ in range(2)
    )
    await world.ingest.accept(notification(("aaaa", "nas:9100", "firing")))
    await world.ingest.accept(notification(("aaaa", "nas:9100", "resolved"), status="resolved"))
    await world.worker.drain_once()
    assert world.metrics.counts["dead"] == 2 and len(world.admin.posts) == 1
    assert (await world.outbox.stats(world.clock())).depth == 0
