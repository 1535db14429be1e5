"""The catalogue of commands and components, each with the role it needs and its arguments.

Each feature declares its own part (`bot/domain/catalogue/<feature>.py`: `COMMANDS` and
`COMPONENTS`); this module assembles them. Both faces (Discord and console) take the permission
and the argument schema of a command or a click from here, and one check
(`bot.services.gate.Gate`) enforces it; nothing is callable without an entry.

Example::

    STATUS_REFRESH.custom_id("nas")          # 'hl:status.refresh:nas'
    parse_custom_id("hl:status.refresh:nas")  # ('status.refresh', 'nas')
"""

from __future__ import annotations

import logging

from bot.domain.catalogue import (
    admin,
    alerts,
    audit,
    backup,
    charts,
    dashboards,
    hosts,
    projects,
    reports,
    status,
    thresholds,
)
from bot.domain.catalogue.admin import LIMITS_RESET, SYNC
from bot.domain.catalogue.audit import AUDIT_TAIL, AUDIT_VERIFY, AUDIT_VERIFY_BUTTON
from bot.domain.catalogue.backup import BACKUP_LIST, BACKUP_NOW
from bot.domain.catalogue.hosts import HOST_ADD, HOST_LIST, HOST_REMOVE
from bot.domain.catalogue.spec import (
    BUTTON_PREFIX,
    CUSTOM_ID_RE,
    SELECT_PREFIX,
    Arg,
    ArgError,
    CommandSpec,
    ComponentSpec,
    check_args,
    parse_custom_id,
    parse_words,
)
from bot.domain.catalogue.status import STATUS, STATUS_REFRESH, WHOAMI
from bot.domain.catalogue.thresholds import THRESHOLD_CLEAR, THRESHOLD_LIST, THRESHOLD_SET

log = logging.getLogger(__name__)

# Add a feature's part here; its commands and components join both faces.
PARTS = (status, audit, admin, alerts, thresholds, charts, reports, hosts, backup, projects,
         dashboards)  # fmt: skip

COMMANDS: tuple[CommandSpec, ...] = tuple(c for p in PARTS for c in p.COMMANDS)
COMPONENTS: tuple[ComponentSpec, ...] = tuple(c for p in PARTS for c in p.COMPONENTS)


def command(name: str) -> CommandSpec | None:
    """The command called `name`, if there is one."""
    return next((c for c in COMMANDS if c.name == name), None)


def component(route: str) -> ComponentSpec | None:
    """The component kind with this route, if there is one."""
    return next((c for c in COMPONENTS if c.route == route), None)


__all__ = [
    "AUDIT_TAIL",
    "AUDIT_VERIFY",
    "AUDIT_VERIFY_BUTTON",
    "BACKUP_LIST",
    "BACKUP_NOW",
    "BUTTON_PREFIX",
    "COMMANDS",
    "COMPONENTS",
    "CUSTOM_ID_RE",
    "HOST_ADD",
    "HOST_LIST",
    "HOST_REMOVE",
    "LIMITS_RESET",
    "PARTS",
    "SELECT_PREFIX",
    "STATUS",
    "STATUS_REFRESH",
    "SYNC",
    "THRESHOLD_CLEAR",
    "THRESHOLD_LIST",
    "THRESHOLD_SET",
    "WHOAMI",
    "Arg",
    "ArgError",
    "CommandSpec",
    "ComponentSpec",
    "check_args",
    "command",
    "component",
    "parse_custom_id",
    "parse_words",
]
