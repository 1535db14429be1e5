"""The dashboards feature's part of the catalogue: /dashboard show|create|list|remove|refresh
and the controls on a live dashboard.

Custom id argument of every live control: the dashboard's id, so a click after a restart
finds the dashboard (and its parameters) in the database. The "chart this" select carries
nothing; its values are `<chart>|<host>`.
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 30
DEFAULT_INTERVAL_SECONDS = 60
# The ranges a live dashboard offers in its range select (the rest are for /chart).
DASHBOARD_RANGES = ("15m", "1h", "6h", "24h", "7d")

# The registry's names (bot.domain.dashboards.types.REGISTRY; a test keeps the two equal).
TYPE_NAMES = ("fleet", "host", "alerts", "welcome", "project")

_TYPE = Arg("type", "choice", "which dashboard", required=True, choices=TYPE_NAMES)
_TARGET = Arg(
    "target", help="the host (host dashboard) or project (project dashboard)", max_length=200
)
_RANGE = Arg(
    "range", "choice", "how far back the charts go", default="1h", choices=DASHBOARD_RANGES
)
_ID = Arg("id", "int", "the dashboard's number (see /dashboard list)", required=True, minimum=1)

DASHBOARD_SHOW = CommandSpec(
    "dashboard show",
    "A dashboard now, once (not kept up to date)",
    Role.VIEWER,
    args=(_TYPE, _TARGET, _RANGE),
)
DASHBOARD_CREATE = CommandSpec(
    "dashboard create",
    "Post a live dashboard that keeps itself up to date",
    Role.OPERATOR,
    rate_class="admin",
    args=(
        _TYPE,
        _TARGET,
        _RANGE,
        # A string: channel ids pass 2**53, past what a Discord integer option holds.
        Arg("channel", help="the channel: its id or #mention (empty: this channel)", max_length=30),
        Arg(
            "interval",
            "int",
            "seconds between refreshes",
            default=DEFAULT_INTERVAL_SECONDS,
            minimum=MIN_INTERVAL_SECONDS,
            maximum=86400,
        ),
    ),
)
DASHBOARD_LIST = CommandSpec("dashboard list", "The live dashboards", Role.VIEWER)
DASHBOARD_REMOVE = CommandSpec(
    "dashboard remove",
    "Stop a live dashboard and delete its message",
    Role.OPERATOR,
    rate_class="admin",
    args=(_ID,),
)
DASHBOARD_REFRESH = CommandSpec(
    "dashboard refresh", "Refresh a live dashboard now", Role.OPERATOR, args=(_ID,)
)

DASH_REFRESH = ComponentSpec("dash.refresh", Role.VIEWER, edits=True)
DASH_RANGE = ComponentSpec("dash.range", Role.OPERATOR, select=True, edits=True)
DASH_HOST = ComponentSpec("dash.host", Role.OPERATOR, select=True, edits=True)
DASH_CHART = ComponentSpec("dash.chart", Role.VIEWER, select=True)
# Anyone may accept the rules: that is how a newcomer gets the role that lets them in.
# Anyone may accept the rules; granting a role is audited all the same.
WELCOME_ACCEPT = ComponentSpec("welcome.accept", Role.NONE, rate_class="meta", audited=True)

COMMANDS = (DASHBOARD_SHOW, DASHBOARD_CREATE, DASHBOARD_LIST, DASHBOARD_REMOVE, DASHBOARD_REFRESH)
COMPONENTS = (DASH_REFRESH, DASH_RANGE, DASH_HOST, DASH_CHART, WELCOME_ACCEPT)
