"""`/threshold set|list|clear`: alert thresholds stored by the bot and published on its
/metrics as `homelab_alert_threshold`, which the threshold alerts read.

The published series come from an in-memory snapshot (`published`), refreshed from the store
at start and after every change, so a scrape never waits on the database.

Example::

    service = ThresholdService(SqliteThresholdStore(db), aliases={"nas": "192.168.1.5:9101"})
    await service.refresh()
    await service.set(actor, "HostHighCpu", 0.8, host="nas")
    service.published()     # (Threshold('HostHighCpu', '192.168.1.5:9101', 0.8, ...),)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from bot.domain import commands as catalog
from bot.domain.alerts.thresholds import (
    Threshold,
    ThresholdError,
    UnknownHost,
    check,
    cleared_message,
    find_alert,
    list_message,
    resolve_instance,
    set_message,
)
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import ThresholdStore, ThresholdStoreError

log = logging.getLogger(__name__)


class ThresholdService:
    """Sets, lists and clears thresholds; keeps the snapshot the /metrics collector reads."""

    def __init__(
        self,
        store: ThresholdStore,
        aliases: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.aliases = dict(aliases or {})
        self.clock = clock
        self._snapshot: tuple[Threshold, ...] = ()

    def commands(self) -> Mapping[str, CommandHandler]:
        """The thresholds part of the catalogue."""
        return {
            catalog.THRESHOLD_SET.name: self.set,
            catalog.THRESHOLD_LIST.name: self.list,
            catalog.THRESHOLD_CLEAR.name: self.clear,
        }

    def components(self) -> Mapping[str, ComponentHandler]:
        """No buttons."""
        return {}

    def published(self) -> tuple[Threshold, ...]:
        """The thresholds to publish now, from memory (what a scrape reads)."""
        return self._snapshot

    async def refresh(self) -> bool:
        """Reload the snapshot from the store; on failure keep the last one and return False."""
        try:
            self._snapshot = tuple(await self.store.list())
        except ThresholdStoreError as exc:
            log.error("thresholds not refreshed, /metrics keeps the last ones: %s", exc)
            return False
        log.debug("publishing %d alert thresholds", len(self._snapshot))
        return True

    async def set(self, actor: Actor, alert: str, value: float, host: str | None = None) -> Message:
        """Set `alert`'s threshold for one host or (no host) the whole fleet."""
        try:
            found = check(alert, value)
            instance = resolve_instance(host, self.aliases)
        except ThresholdError as exc:
            return _refusal(exc)
        threshold = Threshold(found.name, instance, value, actor.name, self.clock())
        try:
            await self.store.set(threshold)
        except ThresholdStoreError as exc:
            return _unavailable(exc)
        await self.refresh()
        log.info("threshold %s on %s set to %s by %s", found.name, instance or "the fleet",
                 value, actor.name)  # fmt: skip
        return set_message(threshold, found, self.aliases)

    async def list(self, actor: Actor) -> Message:
        """Every threshold set, read from the store (the snapshot is refreshed with it)."""
        try:
            thresholds = await self.store.list()
        except ThresholdStoreError as exc:
            return _unavailable(exc)
        self._snapshot = tuple(thresholds)
        return list_message(thresholds, self.aliases)

    async def clear(self, actor: Actor, alert: str, host: str | None = None) -> Message:
        """Remove `alert`'s threshold for one host or the fleet-wide one."""
        try:
            found = find_alert(alert)
            instance = resolve_instance(host, self.aliases)
        except ThresholdError as exc:
            return _refusal(exc)
        try:
            removed = await self.store.clear(found.name, instance)
        except ThresholdStoreError as exc:
            return _unavailable(exc)
        await self.refresh()
        if removed:
            log.info("threshold %s on %s cleared by %s", found.name, instance or "the fleet",
                     actor.name)  # fmt: skip
        return cleared_message(found, instance, removed, self.aliases)


def _refusal(exc: ThresholdError) -> Message:
    outcome = "not_found" if isinstance(exc, UnknownHost) else "usage"
    return Message(text=f"{exc}.", ephemeral=True, outcome=outcome)


def _unavailable(exc: ThresholdStoreError) -> Message:
    log.error("%s", exc)
    return Message(
        text=f"{exc}. Nothing was changed; check the bot's database and try again.",
        ephemeral=True,
        outcome="unavailable",
    )
