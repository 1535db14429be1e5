"""Just enough PromQL reading for the tests: the vector selectors of an expression.

Example::

    selectors('sum by (mode) (rate(node_cpu_seconds_total{mode!="idle"}[1m]))')
    # ['node_cpu_seconds_total{mode!="idle"}']
"""

from __future__ import annotations

import re

AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
                "quantile", "count_values", "group"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset"}


def selectors(expr: str) -> list[str]:
    """The vector selectors of a PromQL expression (metric name with its matchers)."""
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    e = re.sub(r"\[[^\]]*\]", "", e)
    found = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", e):
        name = m.group(1)
        rest = e[m.end():].lstrip()
        if name in AGGREGATIONS | KEYWORDS or rest.startswith("("):
            continue
        found.append(name + (m.group(2) or ""))
    return found


def metric_name(selector: str) -> str:
    """The metric name of a selector from `selectors()`."""
    return selector.split("{", 1)[0]
