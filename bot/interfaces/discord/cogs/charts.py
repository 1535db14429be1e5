"""/chart (with autocomplete for charts and hosts) and /query; the buttons are dynamic items."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.catalogue import charts as part
from bot.domain.charts import CHARTS
from bot.interfaces.discord.choices import MAX_CHOICES, host_choices
from bot.interfaces.discord.guard import actor_of, defer_private, defer_public, send, spec_command

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)

class ChartsCog(commands.Cog):
    """Charts of the homelab's metrics."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    @spec_command(part.CHART)
    async def chart(
        self,
        interaction: discord.Interaction[Any],
        chart: str,
        host: str | None = None,
        range: str = "1h",
    ) -> None:
        """A chart of a host's metrics, or the fleet's."""
        # Acknowledge first: the query and the render take longer than Discord's 3 s at worst.
        await defer_public(interaction)
        msg = await self.bot.core.call(
            actor_of(interaction), part.CHART.name, {"chart": chart, "host": host, "range": range}
        )
        await send(interaction, msg)

    @chart.autocomplete("chart")
    async def _chart_names(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """The named charts that start with what was typed."""
        typed = current.casefold()
        return [
            app_commands.Choice(name=f"{name}: {c.title}"[:100], value=name)
            for name, c in sorted(CHARTS.items())
            if name.startswith(typed) or typed in c.title.casefold()
        ][:MAX_CHOICES]

    @chart.autocomplete("host")
    async def _host_names(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """The hosts (from node_uname_info) whose name contains what was typed."""
        return await host_choices(self.bot, current)

    @spec_command(part.QUERY)
    async def query(
        self, interaction: discord.Interaction[Any], promql: str, range: str | None = None
    ) -> None:
        """Run a PromQL query: a table now, or a chart over a range."""
        await defer_private(interaction)  # the gate may have acknowledged already
        msg = await self.bot.core.call(
            actor_of(interaction), part.QUERY.name, {"promql": promql, "range": range}
        )
        await send(interaction, msg)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(ChartsCog(bot))
