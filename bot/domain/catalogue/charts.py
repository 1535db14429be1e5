"""The charts feature's part of the catalogue: /chart, /query and the buttons under a chart.

Custom id argument of the range and refresh buttons: `<chart>|<host>|<range>` (host may be
empty), so a click after a restart redraws the same chart.
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.charts import RANGES
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

RANGE_NAMES = tuple(name for name, _ in RANGES)

CHART = CommandSpec(
    "chart",
    "A chart of a host's metrics, or the fleet's",
    Role.VIEWER,
    args=(
        Arg("chart", help="which chart: cpu, memory, disk, diskio, network, load, temperature",
            required=True, max_length=40),
        Arg("host", help="one host's name or instance; empty for every host", max_length=200),
        Arg("range", "choice", "how far back", default="1h", choices=RANGE_NAMES),
    ),
)  # fmt: skip
QUERY = CommandSpec(
    "query",
    "Run a PromQL query: a table now, or a chart over a range",
    Role.OPERATOR,
    args=(
        Arg("promql", help="the PromQL expression", required=True, max_length=1000),
        Arg("range", "choice", "chart it over this range (empty: the value now)",
            choices=RANGE_NAMES),
    ),
)  # fmt: skip

# Buttons under a chart: another range, or the same again with fresh data.
CHART_RANGE = ComponentSpec("chart.range", Role.VIEWER, edits=True)
CHART_REFRESH = ComponentSpec("chart.refresh", Role.VIEWER, edits=True)

COMMANDS = (CHART, QUERY)
COMPONENTS = (CHART_RANGE, CHART_REFRESH)
