"""Clicks on our buttons and selects, routed by custom id and checked by the one gate.

Views that must survive restarts are dynamic items: the custom id `hl:<route>:<arg>` names
the catalogue entry (and so the permission) and carries the argument back on click.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import discord

from bot.domain import commands as catalog
from bot.domain.commands import ComponentSpec
from bot.interfaces.discord.guard import (
    actor_of,
    apologise,
    decide_only,
    defer_private,
    defer_update,
    enforce,
    send,
    target_of,
)

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)

TEMPLATE = r"hl:(?P<route>[a-z][a-z0-9_.]*):(?P<arg>.*)"
# Every matching dynamic item is called for a click, so selects need their own prefix.
SELECT_TEMPLATE = r"hs:(?P<route>[a-z][a-z0-9_.]*):(?P<arg>.*)"


class _Routed:
    """Shared behaviour of routed buttons and selects."""

    route: str
    arg: str

    item_type: ClassVar[type[discord.ui.Item[Any]]]

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Any:
        """Rebuild the button or select from the custom id of a click (discord.py's hook)."""
        return cls(  # type: ignore[call-arg]
            match["route"], match["arg"], item if isinstance(item, cls.item_type) else None
        )

    @property
    def spec(self) -> ComponentSpec | None:
        return catalog.component(self.route)

    @property
    def edits(self) -> bool:
        """Whether a click answers by replacing the clicked message (Refresh) or privately."""
        spec = self.spec
        return spec is not None and spec.edits

    async def acknowledge(self, interaction: discord.Interaction[Any]) -> None:
        """Acknowledge the click the way it will be answered."""
        await (defer_update if self.edits else defer_private)(interaction)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """The one check, with the permission the catalogue gives this route.

        discord.py turns an exception here into a silent refusal (it only logs it), so one is
        answered with the apology instead.
        """
        try:
            spec = self.spec
            if spec is not None and spec.form:
                # A form opens a modal, which must be the click's first answer: only decide
                # here; the submit passes the whole check (and the audit) before it runs.
                return await decide_only(interaction, spec)
            return await enforce(interaction, spec, self.acknowledge)
        except Exception:
            log.exception("checking a click on %s failed", self.route)
            await apologise(interaction)
            return False

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Run the route's handler and answer; a failure gets the same apology as a command's.

        discord.py only logs an exception raised by a dynamic item's callback, which would
        leave the user with nothing (or "interaction failed").
        """
        try:
            await self._answer(interaction)
        except Exception:
            log.exception("click on %s failed", self.route)
            await apologise(interaction)

    async def _answer(self, interaction: discord.Interaction[Any]) -> None:
        bot: HomelabBot = interaction.client
        spec = self.spec
        if spec is None or not bot.core.handles_component(self.route):
            return
        if spec.form:
            defaults = await bot.core.form_defaults(self.route, self.arg)  # a database read
            await interaction.response.send_modal(FormModal(spec, self.arg, defaults))
            return
        values = [str(v) for v in getattr(getattr(self, "item", None), "values", [])]
        # Acknowledge before the handler runs: Discord allows 3 s for the first answer, and a
        # Refresh may wait up to [bot.prometheus] timeout_seconds on Prometheus.
        await self.acknowledge(interaction)
        msg = await bot.core.run_admitted(
            actor_of(interaction),
            spec,
            target_of(interaction),
            bot.core.click(actor_of(interaction), self.route, self.arg, values),
        )
        await send(interaction, msg, edit=spec.edits)


class RoutedButton(_Routed, discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """Any button whose custom id starts with `hl:`."""

    item_type = discord.ui.Button

    def __init__(self, route: str, arg: str, item: discord.ui.Button[Any] | None = None) -> None:
        super().__init__(item or discord.ui.Button(custom_id=f"hl:{route}:{arg}", label="?"))
        self.route = route
        self.arg = arg


class RoutedSelect(
    _Routed, discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_TEMPLATE
):
    """Any select whose custom id starts with `hs:`."""

    item_type = discord.ui.Select

    def __init__(self, route: str, arg: str, item: discord.ui.Select[Any] | None = None) -> None:
        super().__init__(item or discord.ui.Select(custom_id=f"hs:{route}:{arg}"))
        self.route = route
        self.arg = arg


class FormModal(discord.ui.Modal):
    """The fields a component's catalogue entry asks for; the submit runs the click."""

    def __init__(
        self, spec: ComponentSpec, arg: str, defaults: Mapping[str, str] | None = None
    ) -> None:
        title = spec.route.split(".")[-1].replace("_", " ").capitalize()
        # discord.py keys open modals by custom id alone: one per form opened, or a second
        # form (another alert, another member) would take the first one's answer.
        custom_id = f"hm:{spec.route}:{secrets.token_hex(8)}"
        super().__init__(title=title[:45], timeout=600, custom_id=custom_id)
        self.spec = spec
        self.arg = arg
        self.inputs: dict[str, discord.ui.TextInput[Any]] = {}
        for field in spec.form:
            text: discord.ui.TextInput[Any] = discord.ui.TextInput(
                label=field.name.replace("_", " ").capitalize()[:45],
                # The field's name, not a random id: the same form has the same ids every time.
                custom_id=field.name,
                placeholder=(field.help or None) and field.help[:100],
                required=field.required,
                max_length=field.max_length,
                # Filled in with what the form changes (a task's title...), cut to fit.
                default=(defaults or {}).get(field.name, "")[: field.max_length] or None,
            )
            self.inputs[field.name] = text
            self.add_item(text)

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        """Check, audit, run the handler with the answers, answer privately."""
        bot: HomelabBot = interaction.client
        try:
            if not await enforce(interaction, self.spec, defer_private):
                return
            await defer_private(interaction)
            answers = {name: t.value for name, t in self.inputs.items()}
            actor = actor_of(interaction)
            target = f"{self.spec.custom_id(self.arg)} " + " ".join(
                f"{k}={v}" for k, v in answers.items() if v
            )
            msg = await bot.core.run_admitted(
                actor,
                self.spec,
                target.strip(),
                bot.core.click(actor, self.spec.route, self.arg, [], answers),
            )
            await send(interaction, msg)
        except Exception:
            log.exception("form %s failed", self.spec.route)
            await apologise(interaction)
