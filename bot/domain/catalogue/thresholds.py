"""The thresholds feature's part of the catalogue: /threshold set|list|clear.

A threshold set here is published on the bot's /metrics as `homelab_alert_threshold`, which the
threshold alerts read (docs/alerting.md, "Thresholds as data").
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

THRESHOLD_SET = CommandSpec(
    "threshold set",
    "Set an alert's threshold, fleet-wide or for one host",
    Role.OPERATOR,
    "admin",
    args=(
        Arg("alert", help="the alert's name, e.g. HostHighCpu", required=True, max_length=100),
        Arg(
            "value",
            "float",
            "the threshold, in the alert's unit (ratio, seconds, celsius)",
            required=True,
        ),
        Arg(
            "host",
            help="one host's name or instance; leave empty for the whole fleet",
            max_length=200,
        ),
    ),
)
THRESHOLD_LIST = CommandSpec("threshold list", "Thresholds set from Discord", Role.VIEWER)
THRESHOLD_CLEAR = CommandSpec(
    "threshold clear",
    "Remove a threshold (the built-in default applies again)",
    Role.OPERATOR,
    "admin",
    args=(
        Arg("alert", help="the alert's name", required=True, max_length=100),
        Arg(
            "host",
            help="one host's name or instance; leave empty for the fleet-wide value",
            max_length=200,
        ),
    ),
)

COMMANDS = (THRESHOLD_SET, THRESHOLD_LIST, THRESHOLD_CLEAR)
COMPONENTS = ()
