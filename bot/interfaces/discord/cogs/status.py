"""/status and /whoami."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.domain import commands as catalog
from bot.interfaces.discord.guard import actor_of, defer_public, send, spec_command

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)


class StatusCog(commands.Cog):
    """Fleet and host status."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    @spec_command(catalog.STATUS)
    async def status(self, interaction: discord.Interaction[Any], host: str | None = None) -> None:
        """Fleet summary, or one host."""
        # Acknowledge first: Prometheus may be slow, and Discord allows 3 s for the first answer.
        await defer_public(interaction)
        msg = await self.bot.core.call(actor_of(interaction), catalog.STATUS.name, {"host": host})
        await send(interaction, msg)

    @spec_command(catalog.WHOAMI)
    async def whoami(self, interaction: discord.Interaction[Any]) -> None:
        """The role the bot gives you."""
        await send(interaction, await self.bot.core.call(actor_of(interaction), "whoami", {}))


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(StatusCog(bot))
