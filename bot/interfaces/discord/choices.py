"""Autocomplete choices shared by several cogs: the hosts the charts know.

Example::

    @chart.autocomplete("host")
    async def _hosts(self, interaction, current):
        return await host_choices(self.bot, current)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord import app_commands

from bot.services.charts import ChartService
from bot.services.ports import MetricsUnavailable

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)

# Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25


async def host_choices(bot: HomelabBot, current: str) -> list[app_commands.Choice[str]]:
    """The hosts (from node_uname_info) whose name contains what was typed; none when
    Prometheus cannot be asked (autocomplete has no room for an error)."""
    service = bot.core.feature(ChartService)
    if service is None:
        return []
    try:
        names = await service.host_names()
    except MetricsUnavailable:
        return []
    typed = current.casefold()
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names
            if typed in n.casefold()][:MAX_CHOICES]  # fmt: skip
