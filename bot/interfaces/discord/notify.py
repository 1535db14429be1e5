"""Reminders and digests sent by the bot on its own: to a user's DMs or to a channel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.domain.messages import Message
from bot.interfaces.discord.render import render

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)


class DiscordNotifier:
    """The projects service's Notifier on Discord."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot

    async def to_user(self, user_id: int, msg: Message) -> None:
        """Send `msg` to the user's DMs (split to fit)."""
        user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
        allowed = self.bot.settings.discord.allowed_ping_role_ids
        for part in render(msg, allowed):
            await user.send(**part.kwargs(interaction=False))

    async def to_channel(self, channel_id: int, msg: Message) -> None:
        """Post `msg` in a channel (split to fit)."""
        channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        allowed = self.bot.settings.discord.allowed_ping_role_ids
        for part in render(msg, allowed):
            await channel.send(**part.kwargs(interaction=False))  # type: ignore[union-attr]
