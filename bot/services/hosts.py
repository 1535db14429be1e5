"""`/host add|remove|list`: the hosts Prometheus scrapes, kept in its file_sd file.

The registry's file work runs in a thread (`asyncio.to_thread`): it takes a file lock and
fsyncs, which must not stall the event loop.

Example::

    service = HostService(FileSdRegistry(Path("deploy/file_sd/local/homelab-exporter-bot.yml")))
    await service.add(actor, "nas", "192.168.1.5")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from bot.domain import commands as catalog
from bot.domain.hosts import (
    HostError,
    HostRegistryError,
    HostTarget,
    add,
    added_message,
    check_host,
    list_message,
    remove,
    removed_message,
)
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.services.feature import CommandHandler, ComponentHandler

log = logging.getLogger(__name__)


class HostRegistry(Protocol):
    """Where the hosts are kept (bot.adapters.file_sd.FileSdRegistry); blocking calls."""

    def load(self) -> tuple[HostTarget, ...]:
        """The registered hosts."""
        ...

    def update(
        self, change: Callable[[tuple[HostTarget, ...]], tuple[HostTarget, ...]]
    ) -> tuple[HostTarget, ...]:
        """Apply `change` atomically; the hosts after it."""
        ...


class HostService:
    """Adds, removes and lists the hosts of the file_sd file."""

    def __init__(self, registry: HostRegistry) -> None:
        self.registry = registry

    def commands(self) -> Mapping[str, CommandHandler]:
        """The hosts part of the catalogue."""
        return {
            catalog.HOST_ADD.name: self.add,
            catalog.HOST_REMOVE.name: self.remove,
            catalog.HOST_LIST.name: self.list,
        }

    def components(self) -> Mapping[str, ComponentHandler]:
        """No buttons."""
        return {}

    async def add(self, actor: Actor, name: str, address: str) -> Message:
        """Register `name` at `address`."""
        try:
            host = check_host(name, address)
        except HostError as exc:
            return _refusal(exc, "usage")
        changed = False

        def change(hosts: tuple[HostTarget, ...]) -> tuple[HostTarget, ...]:
            nonlocal changed
            after = add(hosts, host)
            changed = after != hosts
            return after

        try:
            await asyncio.to_thread(self.registry.update, change)
        except HostError as exc:
            return _refusal(exc, "refused")
        except HostRegistryError as exc:
            return _unavailable(exc)
        if changed:
            log.info("host %s (%s) registered by %s", host.name, host.address, actor.name)
        return added_message(host, changed, str(self.registry))

    async def remove(self, actor: Actor, name: str) -> Message:
        """Unregister the host called `name`."""
        gone: list[HostTarget] = []

        def change(hosts: tuple[HostTarget, ...]) -> tuple[HostTarget, ...]:
            after, host = remove(hosts, name)
            gone.append(host)
            return after

        try:
            await asyncio.to_thread(self.registry.update, change)
        except HostError as exc:
            return _refusal(exc, "not_found")
        except HostRegistryError as exc:
            return _unavailable(exc)
        log.info("host %s (%s) removed by %s", gone[0].name, gone[0].address, actor.name)
        return removed_message(gone[0], str(self.registry))

    async def list(self, actor: Actor) -> Message:
        """Every registered host."""
        try:
            hosts = await asyncio.to_thread(self.registry.load)
        except HostRegistryError as exc:
            return _unavailable(exc)
        return list_message(hosts, str(self.registry))


def _refusal(exc: HostError, outcome: str) -> Message:
    text = str(exc)
    return Message(text=text if text.endswith(".") else f"{text}.", ephemeral=True,
                   outcome=outcome)  # fmt: skip


def _unavailable(exc: HostRegistryError) -> Message:
    log.error("%s", exc)
    return Message(text=f"{exc}. Nothing was changed.", ephemeral=True, outcome="unavailable")
