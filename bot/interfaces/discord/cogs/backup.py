"""/backup now and /backup list."""

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


class BackupCog(commands.GroupCog, group_name="backup", group_description="Backups"):
    """Backups of the bot's database, Prometheus and InfluxDB, kept on the bot's disk."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(catalog.BACKUP_NOW)
    async def backup_now(self, interaction: discord.Interaction[Any]) -> None:
        """Take a backup now."""
        await defer_private(interaction)  # it takes seconds: acknowledge first
        msg = await self.bot.core.call(actor_of(interaction), catalog.BACKUP_NOW.name, {})
        await send(interaction, msg)

    @spec_command(catalog.BACKUP_LIST)
    async def backup_list(self, interaction: discord.Interaction[Any]) -> None:
        """Backups on disk."""
        await defer_private(interaction)
        msg = await self.bot.core.call(actor_of(interaction), catalog.BACKUP_LIST.name, {})
        await send(interaction, msg)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(BackupCog(bot))
