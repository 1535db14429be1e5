"""The alerts feature's part of the catalogue: /alerts, /silences and the buttons on every
alert message.

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

COMMANDS = (ALERTS, SILENCES_LIST, SILENCES_EXPIRE)
COMPONENTS = (SILENCE, SILENCE_FORM, UNSILENCE, ACK, GRAPH, PICK)
