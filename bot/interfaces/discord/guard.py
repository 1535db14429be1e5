"""The Discord side of the one permission check, and how commands declare what they need."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.domain.commands import CommandSpec, ComponentSpec
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.interfaces.discord.render import render

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

SPEC_KEY = "homelab_spec"
# A command that answers some invocations with a form (a modal): the predicate on the
# interaction's options says when (see `opens_form`).
FORM_KEY = "homelab_form"
# Set on an interaction whose command answered with a form: its submit is what is audited.
FORM_OPENED = "homelab_form_opened"


def spec_command(spec: CommandSpec) -> Callable[[F], app_commands.Command[Any, Any, Any]]:
    """Declare an app command from its catalogue entry: name, description, permission, and
    each option's description, bounds and choices from the entry's argument schema.

    The callback's parameters must be the schema's arguments (same names, same required ones);
    anything else fails at import, so the Discord face cannot drift from the console's.
    """

    def decorate(func: F) -> app_commands.Command[Any, Any, Any]:
        cmd: app_commands.Command[Any, Any, Any] = app_commands.command(
            name=spec.name.split()[-1], description=spec.description, extras={SPEC_KEY: spec}
        )(func)
        params = cmd._params
        if set(params) != {a.name for a in spec.args}:
            raise TypeError(
                f"/{spec.name}: the callback's options {sorted(params)} are not the "
                f"catalogue's arguments {sorted(a.name for a in spec.args)}"
            )
        for a in spec.args:
            p = params[a.name]
            if p.required != a.required:
                raise TypeError(f"/{spec.name}: option {a.name} must be required={a.required}")
            p.description = (a.help or a.name)[:100]
            if a.kind in ("int", "float"):
                p.min_value, p.max_value = a.minimum, a.maximum
            elif a.kind == "str" and a.max_length is not None:
                p.max_value = a.max_length
            if a.choices:
                p.choices = [app_commands.Choice(name=c, value=c) for c in a.choices]
        return cmd

    return decorate


def opens_form(
    when: Callable[[app_commands.Namespace], bool],
) -> Callable[[app_commands.Command[Any, Any, Any]], app_commands.Command[Any, Any, Any]]:
    """Mark a command that opens a modal when `when(options)` holds (e.g. no title given).

    A modal must be an interaction's first answer, so for such an invocation the tree only
    decides (a refusal is still answered and recorded) and neither defers nor writes the
    "started" row; the form's submit passes the whole check and the audit itself.
    """

    def mark(cmd: app_commands.Command[Any, Any, Any]) -> app_commands.Command[Any, Any, Any]:
        cmd.extras[FORM_KEY] = when
        return cmd

    return mark


def form_wanted(interaction: discord.Interaction[Any]) -> bool:
    """Whether this invocation of its command is to be answered with a form."""
    when = (getattr(interaction.command, "extras", None) or {}).get(FORM_KEY)
    return (
        when is not None
        and interaction.type == discord.InteractionType.application_command
        and bool(when(interaction.namespace))
    )


async def decide_only(
    interaction: discord.Interaction[Any], spec: CommandSpec | ComponentSpec | None
) -> bool:
    """The gate's decision without writing the audit row (a refusal is still recorded)."""
    bot: HomelabBot = interaction.client
    decision = bot.core.gate.decide(actor_of(interaction), spec, target_of(interaction))
    if not decision.allowed:
        assert decision.refusal is not None
        await send(interaction, decision.refusal)
        await bot.core.gate.record(decision)
        return False
    return True


def spec_of(command: Any) -> CommandSpec | None:
    """The catalogue entry an app command declared, None when it declared none."""
    extras = getattr(command, "extras", None) or {}
    spec = extras.get(SPEC_KEY)
    return spec if isinstance(spec, CommandSpec) else None


def actor_of(interaction: discord.Interaction[Any]) -> Actor:
    """The asking user, their guild role ids, and whether they own the bot."""
    user = interaction.user
    roles = getattr(user, "roles", None) or []
    bot: HomelabBot = interaction.client
    return Actor(
        user_id=user.id,
        name=str(user),
        role_ids=frozenset(r.id for r in roles),
        is_owner=user.id in bot.owner_user_ids,
    )


def target_of(interaction: discord.Interaction[Any]) -> str:
    """The options of a command or the custom id of a click, for the audit log."""
    data: Any = interaction.data or {}
    if interaction.type == discord.InteractionType.component:
        return str(data.get("custom_id", ""))
    parts: list[str] = []

    def walk(options: list[dict[str, Any]]) -> None:
        for o in options:
            if "options" in o:
                walk(o["options"])
            elif "value" in o:
                parts.append(f"{o['name']}={o['value']}")

    walk(list(data.get("options", [])))
    return " ".join(parts)


Acknowledge = Callable[[discord.Interaction[Any]], Awaitable[None]]


# How an interaction was deferred, kept in `interaction.extras` under this key.
DEFERRAL = "homelab_deferral"
PUBLIC_THINKING = "public thinking"
PRIVATE_THINKING = "private thinking"
UPDATE = "update"
# Set once the deferred "thinking..." message has been replaced by the first answer.
THINKING_ANSWERED = "homelab_thinking_answered"

APOLOGY = "Something went wrong on the bot's side; the error is in its log."
# What the public "thinking..." message becomes when the answer itself is private.
ANSWERED_PRIVATELY = "Answered privately (only the asker can see the answer)."


async def defer_private(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge with a private "thinking..." state, unless already acknowledged."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
        interaction.extras[DEFERRAL] = PRIVATE_THINKING


async def defer_public(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge with a public "thinking..." state, unless already acknowledged.

    Only for commands whose answer is public: Discord shows the first follow-up in place of
    the "thinking..." message with the deferral's visibility, whatever that follow-up's own
    ephemeral flag says. `send` keeps a private answer private anyway (see there).
    """
    if not interaction.response.is_done():
        await interaction.response.defer(thinking=True)
        interaction.extras[DEFERRAL] = PUBLIC_THINKING


async def defer_update(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge a click that will edit its own message, unless already acknowledged."""
    if not interaction.response.is_done():
        await interaction.response.defer()
        interaction.extras[DEFERRAL] = UPDATE


async def apologise(interaction: discord.Interaction[Any]) -> None:
    """Tell the user, privately, that their command or click failed on the bot's side.

    Used wherever an unexpected exception ends an interaction, so nobody is left with a
    silent "interaction failed"; a failure to send the apology is logged, not raised.
    """
    try:
        await send(interaction, Message(text=APOLOGY, ephemeral=True))
    except Exception:
        log.exception("could not send the apology for a failed interaction")


async def enforce(
    interaction: discord.Interaction[Any],
    spec: CommandSpec | ComponentSpec | None,
    acknowledge: Acknowledge = defer_private,
) -> bool:
    """The one check on Discord: admit, or answer with an ephemeral refusal and return False.

    Discord allows 3 s for the first answer and the audit write may wait on a busy database,
    so nothing is written before the interaction is answered: a refusal is sent first and
    audited after; an admitted privileged action is acknowledged with `acknowledge` before
    its "started" row is written (privileged actions answer privately, so the default
    private deferral keeps a refusal for an unwritable audit log private too).
    """
    bot: HomelabBot = interaction.client
    gate = bot.core.gate
    decision = gate.decide(actor_of(interaction), spec, target_of(interaction))
    if not decision.allowed:
        assert decision.refusal is not None
        await send(interaction, decision.refusal)
        await gate.record(decision)
        return False
    if decision.record is not None:
        await acknowledge(interaction)
        decision = await gate.record(decision)
        if not decision.allowed:
            assert decision.refusal is not None
            await send(interaction, decision.refusal)
            return False
    return True


async def send(interaction: discord.Interaction[Any], msg: Message, *, edit: bool = False) -> None:
    """Answer an interaction with `msg` (split if needed): respond, or follow up once deferred.

    With `edit`, the first part replaces the clicked message: through the response when the
    click is not acknowledged yet, else by editing the original response of a deferred update.

    Visibility rule: after a "thinking..." deferral, Discord shows the first follow-up in place
    of the thinking message with the DEFERRAL's visibility, ignoring the follow-up's own
    ephemeral flag. So when a private part would be that first follow-up of a public
    deferral, the thinking message is first edited into a public one-line note and the part
    follows as a second, truly ephemeral follow-up. (A public part after a private deferral
    stays private: the safe direction; commands with public answers defer publicly.)
    """
    bot: HomelabBot = interaction.client
    parts = render(msg, bot.settings.discord.allowed_ping_role_ids)
    for i, part in enumerate(parts):
        if i == 0 and edit:
            kw = part.kwargs(interaction=False)
            kw["attachments"] = kw.pop("files")
            kw.setdefault("view", None)
            if interaction.response.is_done():
                await interaction.edit_original_response(**kw)
            else:
                await interaction.response.edit_message(**kw)
        elif i == 0 and not interaction.response.is_done():
            await interaction.response.send_message(**part.kwargs())
        else:
            thinking = interaction.extras.get(DEFERRAL) in (PUBLIC_THINKING, PRIVATE_THINKING)
            if thinking and not interaction.extras.get(THINKING_ANSWERED):
                interaction.extras[THINKING_ANSWERED] = True
                if part.ephemeral and interaction.extras[DEFERRAL] == PUBLIC_THINKING:
                    await interaction.edit_original_response(
                        content=ANSWERED_PRIVATELY,
                        allowed_mentions=discord.AllowedMentions.none(),
                    )
            await interaction.followup.send(**part.kwargs())
