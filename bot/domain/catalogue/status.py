"""The status feature's part of the catalogue: /status, /whoami and the Refresh button."""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

STATUS = CommandSpec(
    "status",
    "Fleet summary, or one host's vital signs",
    Role.VIEWER,
    args=(
        Arg(
            "host",
            help="a host name or instance; leave empty for the whole fleet",
            max_length=200,
        ),
    ),
)
WHOAMI = CommandSpec("whoami", "The role this bot gives you", Role.VIEWER, "meta")

STATUS_REFRESH = ComponentSpec("status.refresh", Role.VIEWER, edits=True)

COMMANDS = (STATUS, WHOAMI)
COMPONENTS = (STATUS_REFRESH,)
