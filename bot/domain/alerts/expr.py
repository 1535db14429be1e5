"""An alert's expression, taken apart for its graph: what is measured and what it is compared to.

Example::

    split_comparison('instance:cpu:ratio > on (instance) group_left () max(t)')
    # Comparison(lhs='instance:cpu:ratio', op='>', rhs='max(t)')
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

_OPS = (">=", "<=", "!=", "==", ">", "<")
_MODIFIER = re.compile(
    r"^\s*(bool\s+)?((on|ignoring)\s*\([^)]*\)\s*)?((group_left|group_right)\s*(\([^)]*\))?\s*)?"
)


@dataclass(frozen=True, slots=True)
class Comparison:
    """`lhs op rhs` at the top level of an expression (vector matching modifiers dropped)."""

    lhs: str
    op: str
    rhs: str


def split_comparison(expr: str) -> Comparison | None:
    """The last top-level comparison of `expr`, or None when it has none.

    Brackets, braces, parentheses and quoted strings are skipped, so `{a!="b"}` or
    `rate(x[5m]) > 0` split where a reader would split them.
    """
    depth = 0
    quote = ""
    found: tuple[int, str] | None = None
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            for op in _OPS:
                if expr.startswith(op, i) and not (op == "=" and expr[i - 1 : i] in "!<>="):
                    found = (i, op)
                    i += len(op) - 1
                    break
        i += 1
    if found is None:
        return None
    at, op = found
    lhs = expr[:at].strip()
    rest = expr[at + len(op) :]
    rhs = rest[_MODIFIER.match(rest).end() :].strip()  # type: ignore[union-attr]
    if not lhs or not rhs:
        return None
    return Comparison(lhs, op, rhs)
