"""Showing text that came from outside (labels, host names) without it turning into markup.

Example::

    escape("@everyone *bold* <@123>")   # '@\u200beveryone \\*bold\\* <@\u200b123>'
"""

from __future__ import annotations

import logging
import re
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


# Discord's timestamp markup, <t:UNIX> or <t:UNIX:STYLE>, shown in each reader's time zone.
_TIMESTAMP = re.compile(r"<t:(-?\d{1,12})(?::([tTdDfFR]))?>")


def _timestamp(m: re.Match[str]) -> str:
    when = datetime.fromtimestamp(int(m.group(1)), UTC)
    if m.group(2) == "R":
        return f"at {when:%H:%M} UTC"
    return f"{when:%Y-%m-%d %H:%M} UTC"


def plain(text: str) -> str:
    """Discord markdown as plain text for a terminal: escapes undone, bold markers dropped,
    timestamps written out in UTC."""
    text = _TIMESTAMP.sub(_timestamp, text.replace("**", ""))
    return _ESCAPED.sub(r"\1", text).replace("\u200b", "")


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
