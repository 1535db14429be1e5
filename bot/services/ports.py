"""The ports services reach I/O through; adapters implement them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.audit import AuditEntry, AuditHead, AuditRecord

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
