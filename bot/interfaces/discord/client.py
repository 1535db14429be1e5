"""The Bot subclass: resources come in through the constructor, extensions load in setup_hook.

Example::

    bot = HomelabBot(settings, core)
    await bot.start(settings.discord.token.get_secret_value())
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.commands import CommandSpec
from bot.domain.messages import Message
from bot.interfaces.discord.components import RoutedButton, RoutedSelect
from bot.interfaces.discord.guard import actor_of, enforce, send, spec_of, target_of
from bot.services.core import Core
from bot.settings import BotSettings

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.interfaces.discord.cogs.status",
    "bot.interfaces.discord.cogs.admin",
)


class GuardedTree(app_commands.CommandTree["HomelabBot"]):
    """A command tree whose every command passes the one permission check first."""

    async def interaction_check(self, interaction: discord.Interaction[HomelabBot], /) -> bool:
        """Refuse undeclared commands and users below the declared role."""
        return await enforce(interaction, spec_of(interaction.command))

    async def on_error(
        self, interaction: discord.Interaction[HomelabBot], error: app_commands.AppCommandError, /
    ) -> None:
        """Refusals were answered already; anything else gets a plain apology and an audit row."""
        if isinstance(error, app_commands.CheckFailure):
            return
        log.error(
            "command %s failed", getattr(interaction.command, "qualified_name", "?"), exc_info=error
        )
        spec = spec_of(interaction.command)
        if spec is not None:
            await interaction.client.core.gate.completed(
                actor_of(interaction),
                spec,
                target_of(interaction),
                f"error: {type(error).__name__}",
            )
        await send(
            interaction,
            Message(
                text="Something went wrong on the bot's side; the error is in its log.",
                ephemeral=True,
            ),
        )


class HomelabBot(commands.Bot):
    """The Discord face. Owns no resources: the caller builds and closes them."""

    def __init__(
        self,
        settings: BotSettings,
        core: Core,
        *,
        sync_on_start: bool = True,
        extensions: tuple[str, ...] = EXTENSIONS,
    ) -> None:
        intents = discord.Intents.default()  # no privileged intents: slash commands only
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=GuardedTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.settings = settings
        self.core = core
        self.sync_on_start = sync_on_start
        self.extension_names = extensions
        self.owner_user_ids: set[int] = set(settings.discord.owner_ids)
        core.syncer = self.sync_commands

    async def setup_hook(self) -> None:
        """Load extensions, register dynamic components, learn the owner, sync commands."""
        for name in self.extension_names:
            await self.load_extension(name)
        self.add_dynamic_items(RoutedButton, RoutedSelect)
        if not self.owner_user_ids:
            try:
                info = await self.application_info()
                owners = info.team.members if info.team else [info.owner]
                self.owner_user_ids = {u.id for u in owners}
            except discord.HTTPException as exc:
                log.warning("cannot read the application's owner (%s); set discord.owner_ids", exc)
        if self.sync_on_start:
            log.info("%s", await self.sync_commands())

    async def sync_commands(self) -> str:
        """Sync app commands to each configured guild, or globally when none is configured."""
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            return f"synced {len(synced)} commands globally (may take up to an hour to show)"
        counts = []
        for gid in guild_ids:
            guild = discord.Object(gid)
            self.tree.copy_global_to(guild=guild)
            counts.append(f"{len(await self.tree.sync(guild=guild))} to guild {gid}")
        return "synced " + ", ".join(counts)

    async def on_app_command_completion(
        self, interaction: discord.Interaction[Any], command: app_commands.Command[Any, Any, Any]
    ) -> None:
        """Audit how a privileged command ended."""
        spec: CommandSpec | None = spec_of(command)
        if spec is not None:
            await self.core.gate.completed(
                actor_of(interaction), spec, target_of(interaction), "ok"
            )

    def declared_commands(self) -> list[app_commands.Command[Any, Any, Any]]:
        """Every leaf app command in the tree."""
        return [c for c in self.tree.walk_commands() if isinstance(c, app_commands.Command)]
