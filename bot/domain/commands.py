"""The catalogue of commands and components, each with the role it needs.

Both faces (Discord and console) take the permission of a command or a click from here, and
one check (`bot.services.gate.Gate`) enforces it; nothing is callable without an entry.

Example::

    STATUS_REFRESH.custom_id("nas")          # 'hl:status.refresh:nas'
    parse_custom_id("hl:status.refresh:nas")  # ('status.refresh', 'nas')
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.domain.permissions import Role

log = logging.getLogger(__name__)

# Buttons start "hl:", selects "hs:", so each kind has its own click handler.
BUTTON_PREFIX = "hl"
SELECT_PREFIX = "hs"
CUSTOM_ID_RE = re.compile(r"h[ls]:(?P<route>[a-z][a-z0-9_.]*):(?P<arg>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command: its qualified name (`audit tail`), what it does, and what it needs."""

    name: str
    description: str
    permission: Role
    rate_class: str = "query"

    @property
    def privileged(self) -> bool:
        """Privileged commands are audited when they run, not only when refused."""
        return self.permission >= Role.OPERATOR


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """A kind of button or select; the custom id carries its route and one argument."""

    route: str
    permission: Role
    rate_class: str = "query"
    select: bool = False

    @property
    def privileged(self) -> bool:
        """Privileged clicks are audited when they run, not only when refused."""
        return self.permission >= Role.OPERATOR

    @property
    def name(self) -> str:
        """How the audit log and refusals name this component."""
        return f"component {self.route}"

    def custom_id(self, arg: str = "") -> str:
        """The custom id of one component of this kind; the argument is cut to fit 100 chars."""
        head = f"{SELECT_PREFIX if self.select else BUTTON_PREFIX}:{self.route}:"
        return head + arg[: 100 - len(head)]


def parse_custom_id(custom_id: str) -> tuple[str, str] | None:
    """(route, argument) of one of our custom ids, or None for anything else."""
    m = CUSTOM_ID_RE.fullmatch(custom_id)
    return (m["route"], m["arg"]) if m else None


STATUS = CommandSpec("status", "Fleet summary, or one host's vital signs", Role.VIEWER)
WHOAMI = CommandSpec("whoami", "The role this bot gives you", Role.VIEWER, "meta")
LIMITS_RESET = CommandSpec(
    "limits reset", "Lift a user's rate limit and back-off", Role.OPERATOR, "admin"
)
AUDIT_TAIL = CommandSpec("audit tail", "The latest audit log entries", Role.ADMIN, "admin")
AUDIT_VERIFY = CommandSpec("audit verify", "Check the audit log's hash chain", Role.ADMIN, "admin")
SYNC = CommandSpec("sync", "Sync the slash commands to the configured guilds", Role.ADMIN, "admin")

STATUS_REFRESH = ComponentSpec("status.refresh", Role.VIEWER)
AUDIT_VERIFY_BUTTON = ComponentSpec("audit.verify", Role.ADMIN, "admin")

COMMANDS: tuple[CommandSpec, ...] = (STATUS, WHOAMI, LIMITS_RESET, AUDIT_TAIL, AUDIT_VERIFY, SYNC)
COMPONENTS: tuple[ComponentSpec, ...] = (STATUS_REFRESH, AUDIT_VERIFY_BUTTON)


def command(name: str) -> CommandSpec | None:
    """The command called `name`, if there is one."""
    return next((c for c in COMMANDS if c.name == name), None)


def component(route: str) -> ComponentSpec | None:
    """The component kind with this route, if there is one."""
    return next((c for c in COMPONENTS if c.route == route), None)
