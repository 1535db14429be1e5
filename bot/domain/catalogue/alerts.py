"""The alerts feature's part of the catalogue: /alerts, /silences, /threshold and the buttons
on every alert message.

Custom id arguments: the alert's fingerprint (16 hex digits, stable across its firing
episodes), and for the quick silences `<fingerprint>:<duration>` (`1h`, `24h`).
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

ALERTS = CommandSpec(
    "alerts",
    "Alerts firing now, from Alertmanager",
    Role.VIEWER,
    args=(Arg("page", "int", "which page of the list", default=1, minimum=1, maximum=100),),
)
SILENCES_LIST = CommandSpec("silences list", "Active and pending silences", Role.VIEWER)
SILENCES_EXPIRE = CommandSpec(
    "silences expire",
    "Expire a silence now",
    Role.OPERATOR,
    "admin",
    args=(
        Arg(
            "silence_id", help="the silence's id (see /silences list)", required=True, max_length=64
        ),
    ),
)
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

# Buttons on an alert message (argument: the fingerprint, or fingerprint:duration).
SILENCE = ComponentSpec("alert.silence", Role.OPERATOR, "admin")
SILENCE_FORM = ComponentSpec(
    "alert.silence_form",
    Role.OPERATOR,
    "admin",
    form=(
        Arg("duration", help="how long, e.g. 90m, 2h, 3d", required=True, max_length=10),
        Arg("comment", help="why (shown in Alertmanager)", max_length=200),
    ),
)
UNSILENCE = ComponentSpec("alert.unsilence", Role.OPERATOR, "admin")
ACK = ComponentSpec("alert.ack", Role.OPERATOR, "admin")
GRAPH = ComponentSpec("alert.graph", Role.VIEWER)
# On a message that packs several alerts: pick one, get its buttons privately.
PICK = ComponentSpec("alert.pick", Role.VIEWER, select=True)

COMMANDS = (ALERTS, SILENCES_LIST, SILENCES_EXPIRE, THRESHOLD_SET, THRESHOLD_LIST, THRESHOLD_CLEAR)
COMPONENTS = (SILENCE, SILENCE_FORM, UNSILENCE, ACK, GRAPH, PICK)
