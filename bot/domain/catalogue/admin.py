"""The bot administration part of the catalogue: /limits reset and /sync."""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

LIMITS_RESET = CommandSpec(
    "limits reset",
    "Lift a user's rate limit and back-off",
    Role.OPERATOR,
    "admin",
    args=(Arg("user", "user", "the user whose limits to lift", required=True),),
)
SYNC = CommandSpec("sync", "Sync the slash commands to the configured guilds", Role.ADMIN, "admin")

COMMANDS = (LIMITS_RESET, SYNC)
COMPONENTS = ()
