"""Showing text that came from outside (labels, host names) without it turning into markup.

Example::

    escape("@everyone *bold* <@123>")   # '@\u200beveryone \\*bold\\* <@\u200b123>'
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()-])")
_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>")


def escape(text: str) -> str:
    """Neutralise Discord markdown and mentions in untrusted text (labels, names, values)."""
    text = _MENTION.sub(_break_mention, text)
    return _MARKDOWN.sub(r"\\\1", text)


def _break_mention(m: re.Match[str]) -> str:
    if m.group(1):
        return "@\u200b" + m.group(1)
    return "<" + m.group(2) + "\u200b" + m.group(3) + ">"


_ESCAPED = re.compile(r"\\([\\*_~`|>#\[\]()-])")


def plain(text: str) -> str:
    """Discord markdown as plain text for a terminal: escapes undone, bold markers dropped."""
    text = text.replace("**", "")
    return _ESCAPED.sub(r"\1", text).replace("\u200b", "")
