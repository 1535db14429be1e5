"""The dispatcher behind both faces: validate a call against the catalogue, pass the gate,
run the feature's handler, audit how it ended. Handlers live in the feature services.

Example::

    core = Core(gate, [status_service, audit_service, admin_service])
    message = await core.execute(CONSOLE_ACTOR, "status", {"host": "nas"})
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from bot.domain import commands as catalog
from bot.domain.commands import ArgError, CommandSpec, ComponentSpec, check_args
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.services.feature import CommandHandler, ComponentHandler, Feature, FormDefaults
from bot.services.gate import Decision, Gate

log = logging.getLogger(__name__)

CONSOLE_ACTOR = Actor(user_id=0, name="console", is_owner=True)

T = TypeVar("T")


class Core:
    """Routes every command and click to its feature; faces call it after or through the gate."""

    def __init__(self, gate: Gate, features: Iterable[Feature]) -> None:
        self.gate = gate
        self.features = tuple(features)
        self._commands: dict[str, CommandHandler] = {}
        self._components: dict[str, ComponentHandler] = {}
        self._defaults: dict[str, FormDefaults] = {}
        for feature in self.features:
            for name, handler in feature.commands().items():
                if catalog.command(name) is None or name in self._commands:
                    raise ValueError(
                        f"{type(feature).__name__}: command {name!r} is not in the "
                        "catalogue or has two handlers"
                    )
                self._commands[name] = handler
            for route, click in feature.components().items():
                if catalog.component(route) is None or route in self._components:
                    raise ValueError(
                        f"{type(feature).__name__}: component {route!r} is not in "
                        "the catalogue or has two handlers"
                    )
                self._components[route] = click
            defaults = getattr(feature, "form_defaults", None)
            for route, fill in (defaults() if defaults is not None else {}).items():
                if route not in self._components or route in self._defaults:
                    raise ValueError(
                        f"{type(feature).__name__}: form defaults for {route!r}, which it "
                        "does not handle or which has them twice"
                    )
                self._defaults[route] = fill

    def feature(self, kind: type[T]) -> T | None:
        """The feature service of this type, if the bot runs one."""
        return next((f for f in self.features if isinstance(f, kind)), None)

    def handles(self, name: str) -> bool:
        """Whether a feature handles command `name` (features can be switched off)."""
        return name in self._commands

    def handles_component(self, route: str) -> bool:
        """Whether a feature handles clicks on `route`."""
        return route in self._components

    async def execute(self, actor: Actor, name: str, args: Mapping[str, Any]) -> Message:
        """Run command `name` for `actor`: arguments checked, then the gate, then the audit."""
        spec = catalog.command(name)
        if spec is not None:
            try:
                args = check_args(spec, args)
            except ArgError as exc:
                return usage_message(spec, str(exc))
        target = " ".join(f"{k}={v}" for k, v in args.items() if v not in (None, ""))
        decision = await self.gate.admit(actor, spec, target)
        if not decision.allowed or spec is None:
            assert decision.refusal is not None
            return decision.refusal
        return await self.run_admitted(actor, spec, target, self.call(actor, name, args))

    async def call(self, actor: Actor, name: str, args: Mapping[str, Any]) -> Message:
        """Run an admitted command's handler with its checked arguments (the gate has passed)."""
        spec = catalog.command(name)
        handler = self._commands.get(name)
        if spec is None or handler is None:
            return Message(
                text=f"The command {name!r} is not available here.", ephemeral=True, outcome="usage"
            )
        try:
            checked = check_args(spec, args)
        except ArgError as exc:
            return usage_message(spec, str(exc))
        return await handler(actor, **checked)

    async def click(
        self,
        actor: Actor,
        route: str,
        arg: str,
        values: list[str] | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> Message:
        """Run an admitted click's handler; a form's answers are checked against its fields."""
        spec = catalog.component(route)
        handler = self._components.get(route)
        if spec is None or handler is None:
            return Message(
                text="This button is not available any more.", ephemeral=True, outcome="usage"
            )
        answers: dict[str, Any] = {}
        for field in spec.form:
            raw = (form or {}).get(field.name)
            try:
                answers[field.name] = (
                    field.convert(raw)
                    if raw not in (None, "")
                    else (field.default if not field.required else field.convert(""))
                )
            except ArgError as exc:
                return Message(text=f"{exc}.", ephemeral=True, outcome="usage")
        return await handler(actor, arg, list(values or []), answers)

    async def form_defaults(self, route: str, arg: str) -> dict[str, str]:
        """What a form opens filled in with (empty when its feature has nothing: the form
        then opens blank; a failure to read them is logged, never in the user's way)."""
        fill = self._defaults.get(route)
        if fill is None:
            return {}
        try:
            return dict(await fill(arg))
        except Exception:
            log.exception("the current values of form %s (%s) could not be read", route, arg)
            return {}

    async def run_admitted(
        self, actor: Actor, spec: CommandSpec | ComponentSpec, target: str, work: Awaitable[Message]
    ) -> Message:
        """Await an admitted action and audit how it ended."""
        try:
            result = await work
        except Exception as exc:
            await self.gate.completed(actor, spec, target, f"error: {type(exc).__name__}")
            raise
        await self.gate.completed(actor, spec, target, "ok")
        return result

    async def admit(
        self, actor: Actor, spec: CommandSpec | ComponentSpec | None, target: str
    ) -> Decision:
        """The one check (delegates to the gate)."""
        return await self.gate.admit(actor, spec, target)


def usage_message(spec: CommandSpec, problem: str) -> Message:
    """What a call with bad arguments gets: the problem and the command's usage."""
    return Message(text=f"{problem}.\nusage: {spec.usage()}", ephemeral=True, outcome="usage")
