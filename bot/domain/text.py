"""Showing text that came from outside (labels, host names) without it turning into markup.

Example::

    escape("@everyone *bold* <@123>")   # '@\u200beveryone \\*bold\\* <@\u200b123>'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime

log = logging.getLogger(__name__)

_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()-])")
_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>")
# "1. item" at the start of a line is an ordered list in Discord markdown.
_ORDERED = re.compile(r"^(\s*\d+)\.(?=\s)", re.M)


def escape(text: str) -> str:
    """Neutralise Discord markdown and mentions in untrusted text (labels, names, values)."""
    text = _MENTION.sub(_break_mention, text)
    text = _MARKDOWN.sub(r"\\\1", text)
    return _ORDERED.sub(r"\1\\.", text)


def defang(text: str) -> str:
    """Mentions in untrusted text broken with a zero-width space, markdown left alone.

    For places Discord shows as plain text (select option labels), where escapes would show.
    """
    return _MENTION.sub(_break_mention, text)


def _break_mention(m: re.Match[str]) -> str:
    if m.group(1):
        return "@\u200b" + m.group(1)
    return "<" + m.group(2) + "\u200b" + m.group(3) + ">"


_ESCAPED = re.compile(r"\\([\\*_~`|>#\[\]().-])")


def plain(text: str) -> str:
    """Discord markdown as plain text for a terminal: escapes undone, bold markers dropped."""
    text = text.replace("**", "")
    return _ESCAPED.sub(r"\1", text).replace("\u200b", "")


# Discord's timestamp markup, <t:UNIX> or <t:UNIX:STYLE>: shown in each reader's time zone.
_TIMESTAMP = re.compile(r"<t:(-?\d{1,12})(?::([tTdDfFR]))?>")
_DATE_STYLES = {"t": "%H:%M", "T": "%H:%M:%S", "d": "%Y-%m-%d", "D": "%Y-%m-%d"}


def timestamps(text: str, now: float) -> str:
    """Discord's `<t:...>` markup as a terminal can show it: UTC times, and `R` relative to now.

    `<t:1796305209:f>` -> "2026-12-03 13:40 UTC"; `<t:1796305209:R>` -> "5m ago" or "in 5m".
    """

    def one(m: re.Match[str]) -> str:
        at, style = int(m.group(1)), m.group(2) or "f"
        if style == "R":
            return _relative(at - now)
        when = datetime.fromtimestamp(at, UTC)
        fmt = _DATE_STYLES.get(style, "%Y-%m-%d %H:%M:%S" if style == "F" else "%Y-%m-%d %H:%M")
        return when.strftime(fmt) + ("" if style in "dD" else " UTC")

    return _TIMESTAMP.sub(one, text)


def _relative(seconds: float) -> str:
    """`in 5m` / `5m ago`, in the largest whole unit (s, m, h, d)."""
    n = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if n >= size:
            amount = f"{int(n // size)}{unit}"
            break
    else:
        amount = f"{int(n)}s"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


# Terminal escape sequences (CSI, OSC, other ESC sequences), then single control characters:
# C0 except tab and newline, DEL, C1, and the bidirectional overrides that reorder a line.
_TERMINAL_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text safe to print on a terminal: escape sequences and control characters removed."""
    return _CONTROL.sub("", _TERMINAL_SEQUENCE.sub("", text))


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun in the number it needs: "1 host", "2 hosts", "1 entry", "0 entries"."""
    if n == 1:
        return f"{n} {singular}"
    if plural is None:
        plural = singular[:-1] + "ies" if singular.endswith("y") else singular + "s"
    return f"{n} {plural}"


def fit_lines(lines: Sequence[str], limit: int) -> str:
    """As many whole lines as fit in `limit` characters, then '… and N more'."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        more = f"… and {len(lines) - i} more"
        need = len(line) + (1 if out else 0)
        rest = len(lines) - i - 1
        if used + need + (len(more) + 1 if rest else 0) > limit:
            out.append(more)
            break
        out.append(line)
        used += need
    return "\n".join(out)
