"""/dashboard show|create|list|remove|refresh, and the loop that keeps live dashboards fresh.

The loop is a `tasks.loop` started in `cog_load` that waits for the gateway; every tick it
asks the service for what is due, on discord.py's clock (simcord's virtual one in tests).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.domain.catalogue import dashboards as part
from bot.domain.dashboards.live import TICK_SECONDS
from bot.interfaces.discord.choices import MAX_CHOICES, host_choices
from bot.interfaces.discord.delivery import ChannelTarget
from bot.interfaces.discord.guard import actor_of, defer_private, defer_public, send, spec_command
from bot.services.dashboards import DashboardService
from bot.services.projects import ProjectService

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)


class DiscordRoles:
    """Grants the welcome dashboard's role; each refusal is a sentence for the member."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    async def grant(self, channel_id: int, user_id: int, role_id: int) -> str | None:
        """Give `user_id` the role in the guild of `channel_id`."""
        channel = self.bot.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        if guild is None:
            return "This dashboard's channel is not in a server I can see."
        role = guild.get_role(role_id)
        if role is None:
            return (
                "The role to grant is not in this server: an admin must fix "
                "[bot.dashboards.welcome] accept_role_id."
            )
        try:
            # By id through the REST route: no member cache, so no members intent needed.
            await self.bot.http.add_role(guild.id, user_id, role.id, reason="accepted the rules")
        except discord.Forbidden:
            return (
                "I cannot grant that role: I need the Manage Roles permission and my role "
                "must be above it. Please tell an admin."
            )
        return None


class DashboardCog(commands.GroupCog, group_name="dashboard", group_description="Live dashboards"):
    """Dashboards: once, or live in a channel."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        self.service = bot.core.feature(DashboardService)
        super().__init__()

    async def cog_load(self) -> None:
        """Say where dashboards go, and start the refresh loop."""
        if self.service is None:
            return
        allowed = self.bot.settings.discord.allowed_ping_role_ids
        self.service.attach(
            lambda channel_id: ChannelTarget(self.bot, channel_id, allowed, replace_files=True),
            members=self._members,
            roles=DiscordRoles(self.bot),
        )
        self.refresher.start()

    async def cog_unload(self) -> None:
        """Stop the loop."""
        self.refresher.cancel()

    def _members(self, channel_id: int) -> int | None:
        guild = getattr(self.bot.get_channel(channel_id), "guild", None)
        return getattr(guild, "member_count", None)

    @tasks.loop(seconds=TICK_SECONDS)
    async def refresher(self) -> None:
        """Refresh the dashboards that are due (a failure is logged, the loop goes on)."""
        assert self.service is not None
        try:
            await self.service.tick(discord.utils.utcnow().timestamp())
        except Exception:
            log.exception("the dashboard refresh failed; the next tick tries again")

    @refresher.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    @spec_command(part.DASHBOARD_SHOW)
    async def show(
        self,
        interaction: discord.Interaction[Any],
        type: str,
        target: str | None = None,
        range: str = "1h",
    ) -> None:
        """A dashboard now."""
        await defer_public(interaction)  # several queries and a render
        msg = await self.bot.core.call(
            actor_of(interaction),
            part.DASHBOARD_SHOW.name,
            {"type": type, "target": target, "range": range},
        )
        await send(interaction, msg)

    @spec_command(part.DASHBOARD_CREATE)
    async def create(
        self,
        interaction: discord.Interaction[Any],
        type: str,
        target: str | None = None,
        range: str = "1h",
        channel: str | None = None,
        interval: int = 60,
    ) -> None:
        """Post a live dashboard."""
        await defer_private(interaction)
        args = {
            "type": type,
            "target": target,
            "range": range,
            "channel": channel or str(interaction.channel_id or ""),
            "interval": interval,
        }
        msg = await self.bot.core.call(actor_of(interaction), part.DASHBOARD_CREATE.name, args)
        await send(interaction, msg)

    @spec_command(part.DASHBOARD_LIST)
    async def list_dashboards(self, interaction: discord.Interaction[Any]) -> None:
        """The live dashboards."""
        await defer_private(interaction)
        msg = await self.bot.core.call(actor_of(interaction), part.DASHBOARD_LIST.name, {})
        await send(interaction, msg)

    @spec_command(part.DASHBOARD_REMOVE)
    async def remove(self, interaction: discord.Interaction[Any], id: int) -> None:
        """Remove a live dashboard."""
        await defer_private(interaction)
        msg = await self.bot.core.call(
            actor_of(interaction), part.DASHBOARD_REMOVE.name, {"id": id}
        )
        await send(interaction, msg)

    @spec_command(part.DASHBOARD_REFRESH)
    async def refresh(self, interaction: discord.Interaction[Any], id: int) -> None:
        """Refresh a live dashboard now."""
        await defer_private(interaction)
        msg = await self.bot.core.call(
            actor_of(interaction), part.DASHBOARD_REFRESH.name, {"id": id}
        )
        await send(interaction, msg)

    @show.autocomplete("target")
    @create.autocomplete("target")
    async def _targets(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Hosts and projects whose name contains what was typed."""
        choices = await host_choices(self.bot, current)
        projects = self.bot.core.feature(ProjectService)
        if projects is not None:
            try:
                names = await projects.project_names(current)
            except Exception:  # autocomplete has no room for an error
                names = []
            choices += [app_commands.Choice(name=n[:100], value=n[:100]) for n in names]
        return choices[:MAX_CHOICES]


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(DashboardCog(bot))
