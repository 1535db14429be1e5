"""Which target an alert destination means on the face that runs: Discord or the console.

Example::

    targets = AlertTargets(settings, console_out=sys.stdout, bot=None)
    target = targets(Destination(channel_id=0))      # the console face
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from bot.domain.alerts.routing import Destination
from bot.interfaces.console.alerts import ConsoleAlerts
from bot.services.delivery import AlertTarget
from bot.settings import BotSettings

log = logging.getLogger(__name__)


class AlertTargets:
    """Destination -> target; Discord targets only when a bot runs, else the console."""

    def __init__(
        self, settings: BotSettings, *, bot: Any = None, console_out: TextIO | None = None
    ) -> None:
        self.settings = settings
        self.bot = bot
        self.console = ConsoleAlerts(settings.image_dir, console_out)
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[Destination, AlertTarget] = {}

    def __call__(self, dest: Destination) -> AlertTarget:
        """The target for `dest`."""
        target = self._cache.get(dest)
        if target is None:
            target = self._cache[dest] = self._make(dest)
        return target

    def _make(self, dest: Destination) -> AlertTarget:
        if dest.webhook_url_file or dest.webhook_secret:
            from bot.interfaces.discord.delivery import WebhookTarget

            if self._session is None:
                self._session = aiohttp.ClientSession()
            if dest.webhook_secret:
                # Resolved from the vault when the settings were loaded, held in memory only.
                urls = {r.webhook_secret: r.webhook_url for r in self.settings.alerts.routes}
                return WebhookTarget(
                    None, self._session, secret=dest.webhook_secret,
                    url=urls[dest.webhook_secret].get_secret_value()
                    if dest.webhook_secret in urls else "",
                )  # fmt: skip
            return WebhookTarget(Path(dest.webhook_url_file), self._session)
        if dest.channel_id and self.bot is not None:
            from bot.interfaces.discord.delivery import ChannelTarget

            return ChannelTarget(
                self.bot, dest.channel_id, self.settings.discord.allowed_ping_role_ids
            )
        if dest.channel_id:
            log.debug(
                "no Discord face runs: channel %d's alerts go to the console", dest.channel_id
            )
        return self.console

    def admin(self) -> AlertTarget | None:
        """Where dead letters are reported: the admins' channel, or the console."""
        channel = self.settings.alerts.admin_channel_id
        if channel and self.bot is not None:
            return self(Destination(channel_id=channel))
        return self.console

    async def close(self) -> None:
        """Close the webhook session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
