"""Silence durations as people type them: `90m`, `2h`, `1h30m`, `3d`, `1w`; shown with
`format_duration` (the alert message's own duration format).

Example::

    parse_duration("1h30m")     # 5400.0
    format_duration(5400)       # '1h 30m'
"""

from __future__ import annotations

import logging
import re

from bot.domain.alerts.format import duration as format_duration

__all__ = ["DurationError", "format_duration", "parse_duration"]

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
