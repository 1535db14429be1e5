"""What a feature service offers the core: handlers for its part of the catalogue.

Each feature (status, audit, admin, alerts, ...) is one service that maps its catalogue
entries to handlers; `Core` only dispatches to them. A command handler takes the actor and the
command's validated arguments by name; a component handler takes the actor, the argument its
custom id carries, a select's chosen values and a form's answers.

Example::

    class Greeter:
        def commands(self) -> Mapping[str, CommandHandler]:
            return {"hello": self.hello}
        def components(self) -> Mapping[str, ComponentHandler]:
            return {}
        async def hello(self, actor: Actor, name: str | None = None) -> Message:
            return Message(text=f"hello {name or actor.name}")
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from bot.domain.messages import Message
from bot.domain.permissions import Actor

log = logging.getLogger(__name__)

CommandHandler = Callable[..., Awaitable[Message]]
# (actor, custom id argument, select values, form answers) -> answer
ComponentHandler = Callable[[Actor, str, list[str], dict[str, Any]], Awaitable[Message]]
# custom id argument -> the form's fields as they stand (a modal opens filled in with them)
FormDefaults = Callable[[str], Awaitable[Mapping[str, str]]]


class Feature(Protocol):
    """A feature service: its commands and components by catalogue name and route.

    Optionally also `form_defaults() -> Mapping[route, FormDefaults]`: the forms that open
    filled in with what they change (Core looks for it; the projects' task Edit form has one).
    """

    def commands(self) -> Mapping[str, CommandHandler]:
        """Catalogue command name -> handler(actor, **args)."""
        ...

    def components(self) -> Mapping[str, ComponentHandler]:
        """Catalogue component route -> handler(actor, arg, values, form)."""
        ...
