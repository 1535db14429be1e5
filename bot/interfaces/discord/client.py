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
from bot.domain.permissions import allows
from bot.interfaces.discord.components import RoutedButton, RoutedSelect
from bot.interfaces.discord.guard import (
    FORM_OPENED,
    actor_of,
    apologise,
    decide_only,
    enforce,
    form_wanted,
    send,
    spec_of,
    target_of,
)
from bot.services.admin import AdminService
from bot.services.core import Core
from bot.settings import BotSettings

log = logging.getLogger(__name__)

LOGIN_HINT = (
    "set the bot token from the Developer Portal (your application > Bot > Reset Token) "
    "in [bot.discord] token or HOMELAB_BOT__DISCORD__TOKEN"
)
INVITE_HINT = (
    "invite the bot there with the scopes bot and applications.commands (docs/bot.md, "
    "'Invite it'), or remove the guild from [bot.discord] guild_ids"
)

EXTENSIONS = (
    "bot.interfaces.discord.cogs.status",
    "bot.interfaces.discord.cogs.admin",
    "bot.interfaces.discord.cogs.alerts",
    "bot.interfaces.discord.cogs.thresholds",
    "bot.interfaces.discord.cogs.charts",
    "bot.interfaces.discord.cogs.reports",
    "bot.interfaces.discord.cogs.hosts",
    "bot.interfaces.discord.cogs.backup",
    "bot.interfaces.discord.cogs.projects",
    "bot.interfaces.discord.cogs.dashboards",
)


class SyncError(Exception):
    """Discord refused some or all of a command sync; the message says what was done and why."""

    def __init__(
        self, failed: list[str], synced: list[str] | None = None, *, token_refused: bool = False
    ) -> None:
        self.failed = failed
        self.synced = synced or []
        self.token_refused = token_refused
        super().__init__("\n".join([*self.synced, *self.failed]))


def explain(exc: BaseException) -> str:
    """A sentence for an operator on why a request to Discord failed, and what to do."""
    if isinstance(exc, discord.LoginFailure) or (
        isinstance(exc, discord.HTTPException) and exc.status == 401
    ):
        return f"Discord refused the bot token (401 Unauthorized): {LOGIN_HINT}"
    if isinstance(exc, app_commands.CommandSyncFailure):
        return f"Discord rejected the command definitions (400): {exc}"
    if isinstance(exc, discord.RateLimited):
        return f"Discord rate-limits this bot for {exc.retry_after:.0f} s: try again later"
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            # discord.py retries real 429s itself; one without Discord's Via header is Cloudflare.
            return (
                "Discord's edge (Cloudflare) is blocking this address (429 without Via), "
                "usually after many invalid requests: wait an hour before retrying"
            )
        detail = exc.text or exc.response.reason
        return f"Discord answered HTTP {exc.status} (code {exc.code}): {detail}"
    if isinstance(exc, OSError):
        return f"cannot reach Discord ({type(exc).__name__}: {exc}): check the network and DNS"
    return f"{type(exc).__name__}: {exc}"


def _leaf_names(synced: list[app_commands.AppCommand]) -> list[str]:
    """'/status', '/audit tail', ... from what Discord answered to a sync."""
    names: list[str] = []

    def walk(prefix: str, options: list[Any]) -> None:
        subs = [o for o in options if isinstance(o, app_commands.AppCommandGroup)]
        if not subs:
            names.append(prefix)
        for sub in subs:
            walk(f"{prefix} {sub.name}", sub.options)

    for cmd in synced:
        walk(f"/{cmd.name}", cmd.options)
    return names


class GuardedTree(app_commands.CommandTree["HomelabBot"]):
    """A command tree whose every command passes the one permission check first."""

    async def interaction_check(self, interaction: discord.Interaction[HomelabBot], /) -> bool:
        """Refuse undeclared commands and users below the declared role.

        Typing into an option (autocomplete) cannot be answered with a refusal or deferred,
        and runs nothing: only the role is checked (no rate-limit token per keystroke, no
        audit row). An invocation that opens a form is only decided
        too; the form's submit is checked and audited in full.
        """
        spec = spec_of(interaction.command)
        if interaction.type == discord.InteractionType.autocomplete:
            gate = self.client.core.gate
            return spec is not None and allows(gate.roles.role_of(actor_of(interaction)),
                                               spec.permission)  # fmt: skip
        if form_wanted(interaction):
            interaction.extras[FORM_OPENED] = True
            return await decide_only(interaction, spec)
        return await enforce(interaction, spec)

    async def on_error(
        self, interaction: discord.Interaction[HomelabBot], error: app_commands.AppCommandError, /
    ) -> None:
        """Refusals were answered already; anything else gets a plain apology and an audit row."""
        if isinstance(error, app_commands.CheckFailure):
            return
        original = getattr(error, "original", error)
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
        if isinstance(original, SyncError):
            await send(interaction, Message(text=str(original), ephemeral=True))
        else:
            await apologise(interaction)


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
        admin = core.feature(AdminService)
        if admin is not None:
            admin.syncer = self.sync_commands

    async def setup_hook(self) -> None:
        """Load extensions, register dynamic components, learn the owner, sync commands."""
        for name in self.extension_names:
            await self.load_extension(name)
        self.add_dynamic_items(RoutedButton, RoutedSelect)
        if not self.owner_user_ids:
            # login() has just read the application; asking again would cost a request.
            info = self.application
            if info is None:
                log.warning("cannot read the application's owner; set discord.owner_ids")
            else:
                owners = info.team.members if info.team else [info.owner]
                self.owner_user_ids = {u.id for u in owners}
        if self.sync_on_start:
            try:
                log.info("%s", await self.sync_commands())
            except SyncError as exc:
                # Commands synced earlier stay usable; an admin can fix the guild and /sync.
                log.error("%s", exc)

    async def sync_commands(self) -> str:
        """Sync app commands to each configured guild, or globally when none is configured.

        Returns one line per scope naming the commands Discord acknowledged. Raises SyncError
        (after trying every guild, except on a refused token) naming what failed and why.
        """
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            try:
                synced = await self.tree.sync()
            except discord.HTTPException as exc:
                refused = exc.status == 401
                raise SyncError(
                    [f"FAILED to sync globally: {explain(exc)}"], token_refused=refused
                ) from exc
            names = _leaf_names(synced)
            return (
                f"synced {len(names)} commands globally: {', '.join(names)} "
                "(Discord may take up to an hour to show them)"
            )
        synced_lines: list[str] = []
        failed: list[str] = []
        for gid in guild_ids:
            guild = discord.Object(gid)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                if exc.status == 401:  # every further try would be one more invalid request
                    raise SyncError([explain(exc)], synced_lines, token_refused=True) from exc
                reason = (
                    f"Discord refused access (403 Missing Access): {INVITE_HINT}"
                    if isinstance(exc, discord.Forbidden)
                    else explain(exc)
                )
                failed.append(f"FAILED to sync to guild {gid}: {reason}")
                continue
            names = _leaf_names(synced)
            synced_lines.append(f"synced {len(names)} commands to guild {gid}: {', '.join(names)}")
        if failed:
            raise SyncError(failed, synced_lines)
        return "\n".join(synced_lines)

    async def on_ready(self) -> None:
        """Log that the gateway session is up: the sign an operator waits for after a start."""
        user = self.user
        log.info(
            "connected to Discord as %s (id %s), in %d guilds",
            user,
            user.id if user else "?",
            len(self.guilds),
        )

    async def on_app_command_completion(
        self, interaction: discord.Interaction[Any], command: app_commands.Command[Any, Any, Any]
    ) -> None:
        """Audit how a privileged command ended."""
        spec: CommandSpec | None = spec_of(command)
        if spec is not None and not interaction.extras.get(FORM_OPENED):
            await self.core.gate.completed(
                actor_of(interaction), spec, target_of(interaction), "ok"
            )

    def declared_commands(self) -> list[app_commands.Command[Any, Any, Any]]:
        """Every leaf app command in the tree."""
        return [c for c in self.tree.walk_commands() if isinstance(c, app_commands.Command)]
