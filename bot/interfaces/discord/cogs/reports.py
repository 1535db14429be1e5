"""/report [daily|weekly] [host]: the report now, with its charts and HTML file."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.catalogue import reports as part
from bot.interfaces.discord.choices import host_choices
from bot.interfaces.discord.guard import actor_of, defer_public, send, spec_command

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)

class ReportsCog(commands.Cog):
    """Daily and weekly reports on demand."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    @spec_command(part.REPORT)
    async def report(
        self, interaction: discord.Interaction[Any], kind: str = "daily", host: str | None = None
    ) -> None:
        """A daily or weekly report, for the fleet or one host."""
        # Acknowledge first: a report is several queries and three charts.
        await defer_public(interaction)
        msg = await self.bot.core.call(
            actor_of(interaction), part.REPORT.name, {"kind": kind, "host": host}
        )
        await send(interaction, msg)

    @report.autocomplete("host")
    async def _host_names(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """The hosts whose name contains what was typed (the charts' host list)."""
        return await host_choices(self.bot, current)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(ReportsCog(bot))
