"""The bot under simcord, in a guild with one channel and one member: the setup most Discord
face tests share.

Example::

    async with bot_in_guild(settings) as (env, channel, user):
        result = await user.slash(channel, "status")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import simcord

from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime
from bot.settings import BotSettings


@asynccontextmanager
async def bot_in_guild(
    settings: BotSettings, member: str = "vic"
) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Build the runtime, run HomelabBot in simcord; yield (env, channel "ops", member)."""
    rt = await Runtime.build(settings)
    try:
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("ops")
            user = guild.add_member(env.create_user(member))
            yield env, channel, user
    finally:
        await rt.close()
