"""/host add, /host remove and /host list."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.domain import commands as catalog
from bot.interfaces.discord.guard import actor_of, defer_private, send, spec_command

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)


class HostCog(commands.GroupCog, group_name="host", group_description="Hosts Prometheus scrapes"):
    """The hosts in Prometheus' file_sd file, changed without a Prometheus reload."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(catalog.HOST_ADD)
    async def add_host(
        self, interaction: discord.Interaction[Any], name: str, address: str
    ) -> None:
        """Register a host."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(
            actor_of(interaction), catalog.HOST_ADD.name, {"name": name, "address": address}
        )
        await send(interaction, msg)

    @spec_command(catalog.HOST_REMOVE)
    async def remove_host(self, interaction: discord.Interaction[Any], name: str) -> None:
        """Stop scraping a host."""
        await defer_private(interaction)
        msg = await self.bot.core.call(actor_of(interaction), catalog.HOST_REMOVE.name,
                                       {"name": name})  # fmt: skip
        await send(interaction, msg)

    @spec_command(catalog.HOST_LIST)
    async def list_hosts(self, interaction: discord.Interaction[Any]) -> None:
        """Registered hosts."""
        await defer_private(interaction)
        msg = await self.bot.core.call(actor_of(interaction), catalog.HOST_LIST.name, {})
        await send(interaction, msg)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(HostCog(bot))
