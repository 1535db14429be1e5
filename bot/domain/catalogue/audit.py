"""The audit feature's part of the catalogue: /audit tail, /audit verify and its button."""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

AUDIT_TAIL = CommandSpec(
    "audit tail",
    "The latest audit log entries",
    Role.ADMIN,
    "admin",
    args=(
        Arg(
            "count", "int", "how many entries (1-50)", default=10, minimum=1, maximum=50, short="-n"
        ),
    ),
)
AUDIT_VERIFY = CommandSpec("audit verify", "Check the audit log's hash chain", Role.ADMIN, "admin")

AUDIT_VERIFY_BUTTON = ComponentSpec("audit.verify", Role.ADMIN, "admin")

COMMANDS = (AUDIT_TAIL, AUDIT_VERIFY)
COMPONENTS = (AUDIT_VERIFY_BUTTON,)
