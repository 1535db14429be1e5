"""The hosts feature's part of the catalogue: /host add|remove|list.

The hosts live in a file_sd file that Prometheus watches ([bot.hosts] file_sd), so a change
takes effect without a Prometheus reload (docs/monitoring-setup.md, "Adding a host").
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

HOST_ADD = CommandSpec(
    "host add",
    "Register a host for Prometheus to scrape",
    Role.ADMIN,
    "admin",
    args=(
        Arg("name", help="the host's name (its host label), e.g. nas", required=True,
            max_length=63),
        Arg("address", help="host or IP, with :port (default 9101), e.g. 192.168.1.5",
            required=True, max_length=260),
    ),
)  # fmt: skip
HOST_REMOVE = CommandSpec(
    "host remove",
    "Stop scraping a registered host",
    Role.ADMIN,
    "admin",
    args=(Arg("name", help="the host's name", required=True, max_length=63),),
)
HOST_LIST = CommandSpec("host list", "Hosts registered for Prometheus", Role.ADMIN)

COMMANDS = (HOST_ADD, HOST_REMOVE, HOST_LIST)
COMPONENTS = ()
