"""The bot administration feature: /whoami, /limits reset and /sync.

Example::

    admin = AdminService(gate.roles, limiter)
    message = await admin.whoami(actor)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from bot.domain import commands as catalog
from bot.domain.messages import Message
from bot.domain.permissions import Actor, RoleMap
from bot.domain.ratelimit import RateLimiter
from bot.domain.text import escape
from bot.services.feature import CommandHandler, ComponentHandler

log = logging.getLogger(__name__)

Syncer = Callable[[], Awaitable[str]]


class AdminService:
    """Roles, rate limits and command sync."""

    def __init__(self, roles: RoleMap, limiter: RateLimiter, syncer: Syncer | None = None) -> None:
        self.roles = roles
        self.limiter = limiter
        # The Discord face sets this when it runs; without it /sync says what is missing.
        self.syncer = syncer

    def commands(self) -> Mapping[str, CommandHandler]:
        """The admin part of the catalogue."""
        return {
            catalog.WHOAMI.name: self.whoami,
            catalog.LIMITS_RESET.name: self.limits_reset,
            catalog.SYNC.name: self.sync,
        }

    def components(self) -> Mapping[str, ComponentHandler]:
        """No buttons."""
        return {}

    async def whoami(self, actor: Actor) -> Message:
        """The role the bot gives `actor`."""
        role = self.roles.role_of(actor)
        return Message(
            text=f"{escape(actor.name)}: role **{role.label}**"
            + (" (bot owner)" if actor.is_owner else ""),
            ephemeral=True,
        )

    async def limits_reset(self, actor: Actor, user: int) -> Message:
        """Lift the rate limits and back-off of one user."""
        self.limiter.reset(f"user:{user}")
        return Message(text=f"Rate limits and back-off of user {user} are reset.", ephemeral=True)

    async def sync(self, actor: Actor) -> Message:
        """Sync application commands to the configured guilds."""
        if self.syncer is None:
            return Message(
                text="No Discord connection: set [bot.discord] token to sync commands.",
                ephemeral=True,
                outcome="unavailable",
            )
        return Message(text=await self.syncer(), ephemeral=True)
