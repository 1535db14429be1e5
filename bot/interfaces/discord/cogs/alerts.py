"""/alerts and /silences list|expire (the buttons on alert messages are dynamic items)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.domain.catalogue import alerts as part
from bot.interfaces.discord.guard import actor_of, defer_private, defer_public, send, spec_command

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)


class AlertsCog(commands.Cog):
    """What is firing now."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    @spec_command(part.ALERTS)
    async def alerts(self, interaction: discord.Interaction[Any], page: int = 1) -> None:
        """Alerts firing now, from Alertmanager."""
        # Acknowledge first: Alertmanager may be slow, and Discord allows 3 s.
        await defer_public(interaction)
        msg = await self.bot.core.call(actor_of(interaction), part.ALERTS.name, {"page": page})
        await send(interaction, msg)


class SilencesCog(commands.GroupCog, group_name="silences", group_description="Silences"):
    """Alertmanager's silences."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(part.SILENCES_LIST)
    async def list(self, interaction: discord.Interaction[Any]) -> None:
        """Active and pending silences."""
        await defer_public(interaction)
        msg = await self.bot.core.call(actor_of(interaction), part.SILENCES_LIST.name, {})
        await send(interaction, msg)

    @spec_command(part.SILENCES_EXPIRE)
    async def expire(self, interaction: discord.Interaction[Any], silence_id: str) -> None:
        """Expire a silence now."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(
            actor_of(interaction), part.SILENCES_EXPIRE.name, {"silence_id": silence_id}
        )
        await send(interaction, msg)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(AlertsCog(bot))
    await bot.add_cog(SilencesCog(bot))
