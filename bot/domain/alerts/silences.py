"""Silence durations as people type them: `90m`, `2h`, `1h30m`, `3d`, `1w`.

Example::

    parse_duration("1h30m")     # 5400.0
    format_duration(5400)       # '1h 30m'
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MIN_SECONDS = 60.0
MAX_SECONDS = 90 * 86400.0
_PART = re.compile(r"([0-9]+)\s*([smhdw])")


class DurationError(ValueError):
    """A duration that cannot be read or is out of bounds; `str()` says what to type."""


def parse_duration(text: str) -> float:
    """Seconds in `text`: one or more number+unit parts (s, m, h, d, w), 1 minute to 90 days."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _PART.sub("", compact):
        raise DurationError(f"duration {text!r}: write it like 90m, 2h, 1h30m or 3d")
    seconds = float(sum(int(n) * UNITS[u] for n, u in _PART.findall(compact)))
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DurationError(f"duration {text!r}: give between 1m and 90d")
    return seconds


def format_duration(seconds: float) -> str:
    """`1h 30m`, `2d 4h`, `45s`: the two largest units."""
    left = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
