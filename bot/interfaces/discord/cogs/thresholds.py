"""/threshold set, /threshold list and /threshold clear."""

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


class ThresholdCog(commands.GroupCog, group_name="threshold", group_description="Alert thresholds"):
    """Alert thresholds, fleet-wide or per host, published for the alert rules."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(catalog.THRESHOLD_SET)
    async def set_threshold(
        self,
        interaction: discord.Interaction[Any],
        alert: str,
        value: float,
        host: str | None = None,
    ) -> None:
        """Set an alert's threshold."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(
            actor_of(interaction),
            catalog.THRESHOLD_SET.name,
            {"alert": alert, "value": value, "host": host},
        )
        await send(interaction, msg)

    @spec_command(catalog.THRESHOLD_LIST)
    async def list_thresholds(self, interaction: discord.Interaction[Any]) -> None:
        """Thresholds set from Discord."""
        await defer_private(interaction)
        msg = await self.bot.core.call(actor_of(interaction), catalog.THRESHOLD_LIST.name, {})
        await send(interaction, msg)

    @spec_command(catalog.THRESHOLD_CLEAR)
    async def clear_threshold(
        self, interaction: discord.Interaction[Any], alert: str, host: str | None = None
    ) -> None:
        """Remove a threshold."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(
            actor_of(interaction), catalog.THRESHOLD_CLEAR.name, {"alert": alert, "host": host}
        )
        await send(interaction, msg)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(ThresholdCog(bot))
