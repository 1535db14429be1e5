"""The ports services reach I/O through; adapters implement them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain.alerts.thresholds import Threshold
from bot.domain.audit import AuditEntry, AuditHead, AuditRecord
from bot.domain.charts import AlertGraph, Chart, ChartGrid, InfluxQuery, Series

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of the bot's service errors; `str()` is a sentence a user may read."""


class MetricsUnavailable(ServiceError):
    """The metrics source could not answer: down, slow, refused or broken."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class AuditWriteError(ServiceError):
    """The audit log could not be written; privileged actions must then be refused."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of an instant-query result."""

    labels: dict[str, str]
    value: float


class MetricsSource(Protocol):
    """A Prometheus-compatible instant-query API."""

    @property
    def source(self) -> str:
        """Where the metrics come from, safe to show (no credentials)."""
        ...

    async def query(self, expr: str) -> list[Sample]:
        """Evaluate `expr` now; raise MetricsUnavailable when it cannot."""
        ...


class AuditRepository(Protocol):
    """Append-only storage of the audit hash chain."""

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Seal and store one record after the current head; raise AuditWriteError on failure."""
        ...

    async def entries(self) -> Sequence[AuditEntry]:
        """Every entry in storage order."""
        ...

    async def head(self) -> AuditHead | None:
        """The last entry as recorded beside the chain (sealed with a key), None when empty."""
        ...

    async def snapshot(self) -> tuple[Sequence[AuditEntry], AuditHead | None]:
        """`entries()` and `head()` read from one consistent snapshot (what verify needs)."""
        ...

    async def tail(self, n: int) -> Sequence[AuditEntry]:
        """The latest `n` entries, oldest first."""
        ...


# -- alerts: Alertmanager's API, range queries, chart rendering -----------------------------


class AlertmanagerUnavailable(ServiceError):
    """Alertmanager's API could not answer: down, slow, refused or broken."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"Alertmanager at {source}: {reason}")


@dataclass(frozen=True, slots=True)
class SilenceMatcher:
    """One matcher of a silence, as Alertmanager's API v2 has it."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence as Alertmanager reports it; times are Unix seconds."""

    id: str
    matchers: tuple[SilenceMatcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    state: str  # active, pending, expired


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """An alert Alertmanager holds now (GET /api/v2/alerts); times are Unix seconds."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    state: str  # active, suppressed, unprocessed
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    generator_url: str


class AlertmanagerApi(Protocol):
    """Alertmanager's API v2: the alerts it holds and its silences."""

    @property
    def source(self) -> str:
        """Where Alertmanager is, safe to show (no credentials)."""
        ...

    async def alerts(self) -> list[ActiveAlert]:
        """Every alert Alertmanager holds (active, silenced and inhibited)."""
        ...

    async def silences(self) -> list[Silence]:
        """Every silence, expired ones included."""
        ...

    async def create_silence(
        self,
        matchers: Sequence[SilenceMatcher],
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence; return its id."""
        ...

    async def expire_silence(self, silence_id: str) -> None:
        """Expire one silence now; raise KeyError when Alertmanager does not know it."""
        ...


class RangeSource(Protocol):
    """A Prometheus-compatible range-query API."""

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> list[Series]:
        """Evaluate `expr` over [start, end] every `step` seconds; raise MetricsUnavailable."""
        ...


class NamedRangeSource(RangeSource, Protocol):
    """A range-query API that can say where it is (for messages, charts and cache keys)."""

    @property
    def source(self) -> str:
        """Where the metrics come from, safe to show (no credentials)."""
        ...


class InfluxRangeSource(Protocol):
    """InfluxQL range queries over Telegraf-schema data (InfluxDB 1.x, 2.x and 3.x `/query`)."""

    @property
    def source(self) -> str:
        """Where InfluxDB is, safe to show (no credentials)."""
        ...

    async def query_range(
        self, query: InfluxQuery, start: float, end: float, step: float, host: str = ""
    ) -> list[Series]:
        """`query` (placeholders filled by `bot.domain.ranges.influxql`) over [start, end] in
        `step`-second buckets, one Series per tag set and field; `host` "" means every host.
        Raise MetricsUnavailable."""
        ...



class ChartRenderer(Protocol):
    """Renders charts to PNG bytes away from the event loop (a process pool)."""

    async def alert_graph(self, graph: AlertGraph) -> bytes:
        """The PNG of one alert's expression with its threshold and firing window."""
        ...

    async def chart(self, chart: Chart) -> bytes:
        """The PNG of any chart (named charts, /query, dashboards)."""
        ...

    async def grid(self, grid: ChartGrid) -> bytes:
        """The PNG of several charts as the panels of one image (a dashboard's grid)."""
        ...


# -- alerts: the outbox ----------------------------------------------------------------------


class OutboxUnavailable(ServiceError):
    """The outbox could not store or read rows (a full disk, a locked database)."""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One alert state change to store: the alert and its notification context, as JSON."""

    dedupe_key: str
    fingerprint: str
    status: str
    starts_at: str
    alert: str
    context: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A stored, undelivered state change."""

    id: int
    event: OutboxEvent
    received_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """What the bot knows of one firing episode (fingerprint + startsAt): its latest state,
    the message it lives in, and what people did about it."""

    fingerprint: str
    starts_at: str
    status: str
    alert: str
    context: str
    message: int | None
    position: int
    acked_by: str = ""
    acked_at: float | None = None
    silence_id: str = ""
    silenced_by: str = ""
    silenced_until: float | None = None


@dataclass(frozen=True, slots=True)
class AlertMessageRecord:
    """One alert message: where it was sent, the Discord ids of its parts, its nonce."""

    id: int
    target: str
    channel_id: int
    message_ids: tuple[int, ...]
    nonce: str
    dirty: bool


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Undelivered rows and the age of the oldest (0 when none)."""

    depth: int
    oldest_age_seconds: float
    dead: int


class AlertOutbox(Protocol):
    """Durable storage of alert state changes and of the messages they live in."""

    async def enqueue(self, events: Sequence[OutboxEvent], now: float) -> tuple[int, int]:
        """Store new events in one committed transaction; (stored, duplicates)."""
        ...

    async def pending(self, now: float, limit: int, after: int = 0) -> list[OutboxRow]:
        """Undelivered rows due by `now` with ids after `after`, oldest first."""
        ...

    async def held(self, now: float, limit: int) -> list[OutboxEvent]:
        """Undelivered rows waiting for a retry."""
        ...

    async def next_due(self, now: float) -> float | None:
        """When the earliest row held for a retry after `now` falls due (None when none is)."""
        ...

    async def stats(self, now: float) -> OutboxStats:
        """Depth and oldest age of the undelivered rows, and the dead-lettered count."""
        ...

    async def record(self, fingerprint: str, starts_at: str) -> AlertRecord | None:
        """The episode's record, if any message was ever planned for it."""
        ...

    async def records(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], AlertRecord]:
        """The records of many episodes (fingerprint, startsAt) in one read."""
        ...

    async def latest(self, fingerprint: str) -> AlertRecord | None:
        """The latest episode of an alert (by startsAt)."""
        ...

    async def message(self, message: int) -> AlertMessageRecord | None:
        """One message row."""
        ...

    async def cards(self, message: int) -> list[AlertRecord]:
        """The episodes one message shows, in position order."""
        ...

    async def plan_message(
        self, target: str, channel_id: int, nonce: str, rows: Sequence[OutboxRow], now: float
    ) -> int:
        """Create a message row for new episodes and attach them, before anything is sent."""
        ...

    async def sent(
        self, message: int, message_ids: Sequence[int], row_ids: Sequence[int], now: float
    ) -> None:
        """Record the Discord ids of a posted or edited message; its rows are delivered."""
        ...

    async def update_states(self, rows: Sequence[OutboxRow]) -> None:
        """Apply rows' statuses to their episodes (a resolution, say) before the edit."""
        ...

    async def retry(self, row_ids: Sequence[int], next_attempt: float, error: str) -> None:
        """Count one more failed attempt and hold the rows until `next_attempt`."""
        ...

    async def dead(self, row_ids: Sequence[int], error: str, now: float) -> None:
        """Dead-letter rows that can never be delivered."""
        ...

    async def annotate(self, fingerprint: str, starts_at: str, **changes: Any) -> int | None:
        """Set ack/silence fields of an episode and mark its message dirty; its message id."""
        ...

    async def dirty_messages(self) -> list[int]:
        """Messages to re-render (an ack or a silence changed what they show)."""
        ...

    async def clean(self, message: int) -> None:
        """The message was re-rendered."""

    async def prune(self, before: float) -> int:
        """Delete delivered rows done before `before`; how many went."""
        ...


# -- thresholds set from Discord (docs/alerting.md, "Thresholds as data") --------------------


class ThresholdStoreError(ServiceError):
    """The thresholds could not be read or written."""


class ThresholdStore(Protocol):
    """Durable storage of thresholds, one per (alert, instance); instance "" is the fleet."""

    async def set(self, threshold: Threshold) -> None:
        """Store `threshold`, replacing the one for the same alert and instance."""
        ...

    async def clear(self, alertname: str, instance: str) -> bool:
        """Remove one threshold; False when there was none."""
        ...

    async def list(self) -> Sequence[Threshold]:
        """Every threshold, by alert and instance; raise ThresholdStoreError on failure."""
        ...
