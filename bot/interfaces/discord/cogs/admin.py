"""/audit tail, /audit verify, /limits reset and /sync."""

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


class AuditCog(commands.GroupCog, group_name="audit", group_description="The audit log"):
    """Reading and checking the audit log."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(catalog.AUDIT_TAIL)
    async def tail(self, interaction: discord.Interaction[Any], count: int = 10) -> None:
        """The latest audit entries."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(
            actor_of(interaction), catalog.AUDIT_TAIL.name, {"count": count}
        )
        await send(interaction, msg)

    @spec_command(catalog.AUDIT_VERIFY)
    async def verify(self, interaction: discord.Interaction[Any]) -> None:
        """Check the hash chain."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(actor_of(interaction), catalog.AUDIT_VERIFY.name, {})
        await send(interaction, msg)


class LimitsCog(commands.GroupCog, group_name="limits", group_description="Rate limits"):
    """Operator controls of rate limits."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(catalog.LIMITS_RESET)
    async def reset(self, interaction: discord.Interaction[Any], user: discord.User) -> None:
        """Lift a user's rate limits and back-off."""
        msg = await self.bot.core.call(
            actor_of(interaction), catalog.LIMITS_RESET.name, {"user": user.id}
        )
        await send(interaction, msg)


class SyncCog(commands.Cog):
    """Command sync on demand."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    @spec_command(catalog.SYNC)
    async def sync(self, interaction: discord.Interaction[Any]) -> None:
        """Sync app commands to the configured guilds."""
        await defer_private(interaction)  # the gate may have acknowledged already
        await send(interaction, await self.bot.core.call(actor_of(interaction), "sync", {}))


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(AuditCog(bot))
    await bot.add_cog(LimitsCog(bot))
    await bot.add_cog(SyncCog(bot))
