"""The reports feature's part of the catalogue: /report [daily|weekly] [host]."""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.permissions import Role
from bot.domain.reports.model import KINDS

log = logging.getLogger(__name__)

REPORT = CommandSpec(
    "report",
    "A daily or weekly report: availability, usage, disk forecast, alerts (with an HTML file)",
    Role.VIEWER,
    args=(
        Arg("kind", "choice", "which period: the last day or the last week", default="daily",
            choices=KINDS),
        Arg("host", help="one host's name or instance; empty for every host", max_length=200),
    ),
)  # fmt: skip

COMMANDS = (REPORT,)
COMPONENTS: tuple[ComponentSpec, ...] = ()
