"""The delivery worker: drains the alert outbox into its targets, in order, losing nothing.

For each destination, one at a time, rows are taken oldest first: new firing episodes are
packed into as few messages as Discord's limits allow and posted (with a nonce planned and
committed before the send, so a crash between send and commit does not post twice); a
resolution edits the message its episode lives in. 429s are waited out by discord.py inside
the target; 5xx and network errors hold the destination's rows and retry with exponential
back-off; a refusal that can never succeed (400, 403, 404) dead-letters the rows, tells the
admins' channel once and counts them.

Example::

    worker = DeliveryWorker(outbox, targets, routing, metrics, clock=time.time)
    task = asyncio.create_task(worker.run())
    worker.wake()          # after the receiver stored rows
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.alerts.format import AlertCard, alert_message, pack
from bot.domain.alerts.model import Alert, alert_from_json, context_from_json
from bot.domain.alerts.routing import Destination, QuietHours, Route, pings, route
from bot.domain.messages import Image, Message
from bot.services.ports import AlertOutbox, AlertRecord, OutboxRow, OutboxUnavailable, ServiceError

log = logging.getLogger(__name__)

BATCH = 500
# How often delivered rows older than keep_delivered_seconds are deleted.
PRUNE_EVERY = 3600.0
# Parse this many rows between returns to the event loop (the receiver shares it).
YIELD_EVERY = 32


class DeliveryError(ServiceError):
    """A target could not deliver; `final` means it never will (dead-letter the rows).

    `ids` are the parts of a split message that were posted before the failure.
    """

    def __init__(self, reason: str, *, final: bool, ids: Sequence[int] = ()) -> None:
        self.reason = reason
        self.final = final
        self.ids = tuple(ids)
        super().__init__(reason)


class AlertTarget(Protocol):
    """Where alert messages go: a Discord channel, a Discord webhook, the console."""

    @property
    def buttons(self) -> bool:
        """Whether messages there can carry buttons (a bot answers the clicks)."""
        ...

    @property
    def graphs(self) -> bool:
        """Whether each new alert message should carry its graph image (no Graph button)."""
        ...

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Send `msg` (split as needed); the ids of the messages it became."""
        ...

    async def edit(self, ids: Sequence[int], msg: Message) -> list[int]:
        """Replace the messages `ids` with `msg`; the ids it is now shown in."""
        ...

    async def reply(self, ids: Sequence[int], msg: Message) -> None:
        """Post `msg` as a reply under the message `ids[0]`."""
        ...


class DeliveryMetrics(Protocol):
    """The counters and gauges the worker updates."""

    def delivered(self, n: int) -> None:
        """Alerts delivered (a post or an edit)."""
        ...

    def retried(self, n: int) -> None:
        """Alert rows held for a retry."""
        ...

    def dead_lettered(self, n: int) -> None:
        """Alert rows dead-lettered."""
        ...

    def outbox(self, depth: int, oldest_age: float) -> None:
        """The outbox's depth and the age of its oldest undelivered row."""
        ...


@dataclass(frozen=True, slots=True)
class Routing:
    """Routes, the default destination, pings by severity and quiet hours."""

    routes: tuple[Route, ...] = ()
    default: Destination = field(default_factory=Destination)
    ping_role_ids: dict[str, tuple[int, ...]] = field(default_factory=dict)
    quiet: QuietHours = field(default_factory=lambda: QuietHours(0, 0))
    allowed_ping_role_ids: tuple[int, ...] = ()
    resolved_reply: bool = False


class GraphSource(Protocol):
    """Renders an alert's graph as an image, or None when there is nothing to draw."""

    async def image(self, alert: Alert, now: float) -> Image | None:
        """The PNG of the alert's expression."""
        ...


class DeliveryWorker:
    """Drains the outbox; one destination at a time, rows of one alert in order."""

    def __init__(
        self,
        outbox: AlertOutbox,
        target_for: Callable[[Destination], AlertTarget],
        routing: Routing,
        metrics: DeliveryMetrics,
        *,
        graphs: GraphSource | None = None,
        admin_target: AlertTarget | None = None,
        clock: Callable[[], float] = time.time,
        retry_base: float = 1.0,
        retry_max: float = 300.0,
        idle_seconds: float = 5.0,
        wakeup: asyncio.Event | None = None,
        gather_seconds: float = 0.25,
        keep_delivered_seconds: float = 7 * 86400.0,
    ) -> None:
        self.outbox = outbox
        self.target_for = target_for
        self.routing = routing
        self.metrics = metrics
        self.graphs = graphs
        self.admin_target = admin_target
        self.clock = clock
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.idle_seconds = idle_seconds
        self._wake = wakeup or asyncio.Event()
        # After a wake-up, wait this long for more alerts: a burst (one Alertmanager flush is
        # many posts) becomes one pass with fuller messages, and the event loop stays free for
        # the receiver's answers. Alertmanager itself waits 10 s or more (group_wait).
        self.gather_seconds = gather_seconds
        # Delivered rows are only needed to recognise repeats (which would just edit the
        # message again): without pruning the outbox grows by every state change, forever.
        self.keep_delivered_seconds = keep_delivered_seconds
        self._pruned_at: float | None = None

    def wake(self) -> None:
        """New rows were stored: look at the outbox now."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; storage trouble is logged and retried, never fatal."""
        while True:
            self._wake.clear()
            try:
                busy = await self.drain_once()
            except OutboxUnavailable as exc:
                log.error("alert delivery paused: %s", exc)
                busy = False
            except Exception:
                # A bug must not end delivery (cli.run would stop the whole bot): log it,
                # wait, try again; the rows stay in the outbox.
                log.exception("alert delivery pass failed; trying again")
                busy = False
            if busy:
                continue
            wait = self.idle_seconds
            with contextlib.suppress(OutboxUnavailable):
                due = await self.outbox.next_due(self.clock())
                if due is not None:  # a held row falls due: look again then, not later
                    wait = min(wait, max(0.05, due - self.clock()))
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(self._wake.wait(), timeout=wait)
            if woken and self.gather_seconds > 0:
                await asyncio.sleep(self.gather_seconds)

    async def drain_once(self) -> bool:
        """One pass over what is due; True when something was delivered (look again)."""
        now = self.clock()
        progressed = False
        # A destination with rows waiting for a retry waits as a whole: nothing overtakes.
        waiting = {self._destination(e.alert) for e in await self.outbox.held(now, BATCH)}
        by_destination: dict[Destination, list[OutboxRow]] = {}
        rows: list[OutboxRow] = []
        after, n = 0, 0
        # Page past a waiting destination's rows, so they cannot fill the batch and keep the
        # other destinations' alerts back for as long as it is down.
        while len(rows) < BATCH:
            page = await self.outbox.pending(now, BATCH, after)
            for r in page:
                n += 1
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the receiver answer between the parses
                dest = self._destination(r.event.alert)
                if dest not in waiting:
                    by_destination.setdefault(dest, []).append(r)
                    rows.append(r)
            if len(page) < BATCH:
                break
            after = page[-1].id
        for dest, dest_rows in by_destination.items():
            progressed |= await self._deliver(dest, dest_rows)
        for message in await self.outbox.dirty_messages():
            progressed |= await self._refresh(message)
        now = self.clock()
        if self._pruned_at is None or not 0 <= now - self._pruned_at < PRUNE_EVERY:
            self._pruned_at = now
            pruned = await self.outbox.prune(now - self.keep_delivered_seconds)
            if pruned:
                log.info("pruned %d delivered alert rows from the outbox", pruned)
        stats = await self.outbox.stats(now)
        self.metrics.outbox(stats.depth, stats.oldest_age_seconds)
        return progressed and len(rows) > 0

    def _destination(self, alert_json: str) -> Destination:
        labels = alert_from_json(alert_json).labels
        return route(labels, self.routing.routes, self.routing.default)

    async def _deliver(self, dest: Destination, rows: list[OutboxRow]) -> bool:
        """Deliver one destination's rows in order; stop at the first failure (order kept).

        Consecutive new episodes are packed together; a later state of a known episode first
        flushes what was gathered, then edits that episode's message. A final refusal
        dead-letters the rows of the failed step and goes on; a transient one holds every row
        left for this destination, so nothing overtakes.
        """
        target = self.target_for(dest)
        done: set[int] = set()
        new: list[OutboxRow] = []
        gathered_keys: set[tuple[str, str]] = set()  # the episodes in `new`
        flushed: set[tuple[str, str]] = set()  # episodes given a message in this pass
        # One read for every row's episode, not one per row: the receiver's commits share the
        # database lock, and a pass over a burst would otherwise keep them waiting.
        known = await self.outbox.records(
            [(r.event.fingerprint, r.event.starts_at) for r in rows]
        )
        i = 0
        while i <= len(rows):
            row = rows[i] if i < len(rows) else None
            step: list[OutboxRow] = list(new)
            try:
                if row is not None and row.id in done:
                    i += 1
                    continue
                record = None
                if row is not None:
                    e = row.event
                    key = (e.fingerprint, e.starts_at)
                    gathered = key in gathered_keys
                    if gathered:
                        record = None
                    elif key in flushed:  # planned earlier in this pass: `known` predates it
                        record = await self.outbox.record(e.fingerprint, e.starts_at)
                    else:
                        record = known.get(key)
                    if not gathered and (record is None or record.message is None):
                        new.append(row)
                        gathered_keys.add((e.fingerprint, e.starts_at))
                        i += 1
                        continue
                await self._flush_new(dest, target, new, done)
                flushed |= gathered_keys
                new = []
                gathered_keys.clear()
                if row is None:
                    break
                if record is None:  # its firing was just posted: look it up again
                    record = await self.outbox.record(row.event.fingerprint, row.event.starts_at)
                assert record is not None and record.message is not None
                msg_row = await self.outbox.message(record.message)
                if msg_row is not None and not msg_row.message_ids:
                    # Planned before a crash, maybe sent: send again with the same nonce.
                    # The step is this message's rows only: a final refusal dead-letters
                    # them, not the unrelated alerts behind them.
                    cards = await self.outbox.cards(record.message)
                    planned = {(c.fingerprint, c.starts_at) for c in cards}
                    step = [
                        r
                        for r in rows[i:]
                        if r.id not in done
                        and (r.event.fingerprint, r.event.starts_at) in planned
                    ]
                    await self._resend(target, record.message, step, done)
                else:
                    step = [row]
                    await self._update(target, record, row, done)
                i += 1
            except OutboxUnavailable:
                raise
            except Exception as bug:
                # Not a refusal: a bug in a target or in rendering. Held with back-off like a
                # 5xx, so the other destinations are still served and nothing is lost.
                if isinstance(bug, DeliveryError):
                    exc = bug
                else:
                    log.exception("unexpected error delivering alerts to %s", dest.key)
                    exc = DeliveryError(f"{type(bug).__name__}: {bug}", final=False)
                failed = [r for r in step if r.id not in done]
                if not exc.final:
                    await self._failed(dest, [r for r in rows if r.id not in done], exc)
                    return bool(done)
                # Later states of the refused episodes go with them: resending the same
                # planned message in this pass would only be refused again (a second notice).
                refused = {(r.event.fingerprint, r.event.starts_at) for r in failed}
                failed += [
                    r
                    for r in rows[i:]
                    if r.id not in done
                    and r not in failed
                    and (r.event.fingerprint, r.event.starts_at) in refused
                ]
                await self._failed(dest, failed, exc)
                done.update(r.id for r in failed)
                new = []
                gathered_keys.clear()
                if row is None:
                    break
        return bool(done)

    def _cards(self, rows: Sequence[OutboxRow | AlertRecord]) -> list[AlertCard]:
        cards: list[AlertCard] = []
        for r in rows:
            if isinstance(r, OutboxRow):
                cards.append(
                    AlertCard(alert_from_json(r.event.alert), context_from_json(r.event.context))
                )
            else:
                cards.append(card_of(r))
        return cards

    async def _flush_new(
        self, dest: Destination, target: AlertTarget, rows: list[OutboxRow], done: set[int]
    ) -> None:
        """Post new episodes, packed into as few messages as the limits allow."""
        if not rows:
            return
        now = self.clock()
        # Parsing and packing hundreds of alerts is tens of milliseconds of pure work: in a
        # thread, so the webhook's answers are not held up behind it.
        cards = await asyncio.to_thread(self._cards, rows)
        row_of = {id(card): row for card, row in zip(cards, rows, strict=True)}
        for group in await asyncio.to_thread(pack, cards, now):
            group_rows = [row_of[id(c)] for c in group]
            nonce = secrets.token_hex(12)
            message = await self.outbox.plan_message(
                dest.key, dest.channel_id, nonce, group_rows, now
            )
            msg = await self._render(target, group, new=True)
            ids = await self._post(target, message, msg, nonce)
            await self.outbox.sent(message, ids, [r.id for r in group_rows], self.clock())
            done.update(r.id for r in group_rows)
            self.metrics.delivered(len(group_rows))

    async def _post(self, target: AlertTarget, message: int, msg: Message, nonce: str) -> list[int]:
        """Post; if it failed after some parts, record those, so the retry edits and completes
        the message instead of posting it again."""
        try:
            return await target.post(msg, nonce)
        except DeliveryError as exc:
            if exc.ids:
                await self.outbox.sent(message, exc.ids, [], self.clock())
            raise

    async def _resend(
        self, target: AlertTarget, message: int, rows: Sequence[OutboxRow], done: set[int]
    ) -> None:
        msg_row = await self.outbox.message(message)
        assert msg_row is not None
        records = await self.outbox.cards(message)
        planned = {(r.fingerprint, r.starts_at): r.status for r in records}
        mine = [r for r in rows if (r.event.fingerprint, r.event.starts_at) in planned]
        changed = any(planned[(r.event.fingerprint, r.event.starts_at)] != r.event.status
                      for r in mine)  # fmt: skip
        await self.outbox.update_states(mine)
        records = await self.outbox.cards(message)
        msg = await self._render(target, [card_of(r) for r in records], new=True)
        ids = await self._post(target, message, msg, msg_row.nonce)
        if changed:
            # Discord answers a repeated nonce with the message it made the first time, which
            # shows the planned state: bring it up to date.
            ids = await target.edit(
                ids, await self._render(target, [card_of(r) for r in records], new=False)
            )
        await self.outbox.sent(message, ids, [r.id for r in mine], self.clock())
        done.update(r.id for r in mine)
        self.metrics.delivered(len(mine))

    async def _update(
        self, target: AlertTarget, record: AlertRecord, row: OutboxRow, done: set[int]
    ) -> None:
        """A later state of a known episode: edit its message in place."""
        assert record.message is not None
        await self.outbox.update_states([row])
        msg_row = await self.outbox.message(record.message)
        assert msg_row is not None
        records = await self.outbox.cards(record.message)
        msg = await self._render(target, [card_of(r) for r in records], new=False)
        ids = await target.edit(msg_row.message_ids, msg)
        await self.outbox.sent(record.message, ids, [row.id], self.clock())
        done.add(row.id)
        self.metrics.delivered(1)
        if row.event.status == "resolved" and self.routing.resolved_reply:
            alert = alert_from_json(row.event.alert)
            note = Message(text=f"Resolved: {alert.name} on {alert.host}")
            try:
                await target.reply(ids, note)
            except DeliveryError as exc:  # the edit carried the news; a lost reply is cosmetic
                log.warning("could not reply under the resolved alert: %s", exc)

    async def _refresh(self, message: int) -> bool:
        """Re-render a message whose alerts were acked or silenced."""
        msg_row = await self.outbox.message(message)
        if msg_row is None or not msg_row.message_ids:
            return False
        dest = _destination_of(msg_row.target, msg_row.channel_id)
        target = self.target_for(dest)
        records = await self.outbox.cards(message)
        try:
            msg = await self._render(target, [card_of(r) for r in records], new=False)
            ids = await target.edit(msg_row.message_ids, msg)
        except DeliveryError as exc:
            log.warning("could not update alert message %d: %s", message, exc)
            if exc.final:
                await self.outbox.clean(message)
            return False
        await self.outbox.sent(message, ids, [], self.clock())
        await self.outbox.clean(message)
        return True

    async def _render(self, target: AlertTarget, cards: list[AlertCard], *, new: bool) -> Message:
        now = self.clock()
        firing = [c for c in cards if c.alert.status == "firing"]
        roles: tuple[int, ...] = ()
        if new and firing:
            worst = max(firing, key=lambda c: _SEVERITY_RANK.get(c.alert.severity, 0))
            roles = pings(
                worst.alert.severity,
                self.routing.ping_role_ids,
                self.routing.quiet,
                now,
                self.routing.allowed_ping_role_ids,
            )
        # Building and checking a message of ten embeds takes milliseconds of pure Python:
        # off the event loop, so the receiver keeps answering while a burst is delivered.
        msg = await asyncio.to_thread(
            alert_message, cards, pings=roles, buttons=target.buttons, now=now
        )
        if new and target.graphs and self.graphs is not None:
            images: list[Image] = []
            for c in cards:
                try:
                    image = await self.graphs.image(c.alert, now)
                except ServiceError as exc:
                    log.info("no graph for %s: %s", c.alert.name, exc)
                    image = None
                if image is not None:
                    images.append(image)
            if images:
                msg = Message(
                    text=msg.text,
                    embeds=msg.embeds,
                    images=tuple(images),
                    rows=msg.rows,
                    ping_role_ids=msg.ping_role_ids,
                )
        return msg

    async def _failed(self, dest: Destination, rows: list[OutboxRow], exc: DeliveryError) -> None:
        ids = [r.id for r in rows]
        if not ids:
            return
        if exc.final:
            await self.outbox.dead(ids, exc.reason, self.clock())
            self.metrics.dead_lettered(len(ids))
            log.error("alert dead-lettered for %s: %s", dest.key, exc.reason)
            await self._tell_admins(dest, rows, exc)
            return
        attempts = max(r.attempts for r in rows) + 1
        delay = min(self.retry_max, self.retry_base * 2 ** (attempts - 1))
        await self.outbox.retry(ids, self.clock() + delay, exc.reason)
        self.metrics.retried(len(ids))
        log.warning(
            "alert delivery to %s failed (%s); %d rows retried in %.0f s",
            dest.key, exc.reason, len(ids), delay,
        )  # fmt: skip

    async def _tell_admins(
        self, dest: Destination, rows: list[OutboxRow], exc: DeliveryError
    ) -> None:
        if self.admin_target is None:
            return
        names = ", ".join(sorted({alert_from_json(r.event.alert).name for r in rows}))
        note = Message(
            text=(
                f"Could not deliver {len(rows)} alert(s) ({names}) to {dest.key}: {exc.reason}. "
                "They are kept as dead letters (homelab_bot_alerts_dead_lettered_total); fix "
                "the channel or route in [bot.alerts]."
            )
        )
        try:
            await self.admin_target.post(note, secrets.token_hex(12))
        except DeliveryError as again:
            log.error("could not tell the admins' channel either: %s", again)


_SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}


def card_of(r: AlertRecord) -> AlertCard:
    """The card of a stored episode, with what people did about it."""
    return AlertCard(
        alert_from_json(r.alert),
        context_from_json(r.context),
        acked_by=r.acked_by,
        acked_at=r.acked_at,
        silenced_by=r.silenced_by,
        silenced_until=r.silenced_until,
        silence_id=r.silence_id,
    )


def _destination_of(target: str, channel_id: int) -> Destination:
    if target.startswith("webhook:"):
        return Destination(webhook_url_file=target.removeprefix("webhook:"))
    if target.startswith("webhook-secret:"):
        return Destination(webhook_secret=target.removeprefix("webhook-secret:"))
    return Destination(channel_id=channel_id)
