"""The receiving half of alert delivery: a parsed notification -> committed outbox rows.

Each alert of a notification becomes one row keyed by fingerprint + status + startsAt, so the
same state change sent twice (a retry, or both nodes of an Alertmanager cluster) is stored
once. The rows are committed before `accept` returns: the receiver answers 200 only then.

Example::

    ingest = AlertIngest(outbox, metrics, wake=worker.wake)
    result = await ingest.accept(parse_notification(body))   # IngestResult(stored=2, ...)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.alerts.model import (
    Alert,
    AlertContext,
    Notification,
    alert_to_json,
    context_to_json,
    normalise_time,
)
from bot.services.ports import AlertOutbox, OutboxEvent

log = logging.getLogger(__name__)


class IngestMetrics(Protocol):
    """The counters the receiver updates."""

    def received(self, n: int) -> None:
        """Alerts in accepted notifications."""
        ...

    def deduplicated(self, n: int) -> None:
        """Alerts already stored (a retry or a second cluster node)."""
        ...


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one notification added to the outbox."""

    stored: int
    duplicates: int


class AlertIngest:
    """Stores notifications in the outbox and wakes the delivery worker."""

    def __init__(
        self,
        outbox: AlertOutbox,
        metrics: IngestMetrics,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.metrics = metrics
        self.wake = wake
        self.clock = clock
        # Called with the alerts of each notification that stored something new (the live
        # dashboards refresh what shows them); a failing listener is logged, never raised.
        self.listeners: list[Callable[[Sequence[Alert]], object]] = []

    async def accept(self, notification: Notification) -> IngestResult:
        """Store every alert of `notification` (committed); raise OutboxUnavailable if not."""
        context = context_to_json(
            AlertContext(
                external_url=notification.external_url,
                receiver=notification.receiver,
                group_key=notification.group_key,
            )
        )
        events = [
            OutboxEvent(
                dedupe_key=a.dedupe_key,
                fingerprint=a.fingerprint,
                status=a.status,
                starts_at=normalise_time(a.starts_at),
                alert=alert_to_json(a),
                context=context,
            )
            for a in notification.alerts
        ]
        stored, duplicates = await self.outbox.enqueue(events, self.clock())
        self.metrics.received(len(events))
        if duplicates:
            self.metrics.deduplicated(duplicates)
        if stored:
            self.wake()
            for listener in self.listeners:
                try:
                    listener(notification.alerts)
                except Exception:
                    log.exception("an alert listener failed")
        log.debug("notification %s: %d stored, %d duplicates", notification.group_key,
                  stored, duplicates)  # fmt: skip
        return IngestResult(stored, duplicates)
