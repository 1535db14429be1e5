"""Logging configured in one place, with a filter that redacts secrets from every record.

Example::

    configure("INFO", secrets=["my-bot-token"])
    logging.getLogger("x").info("token=%s", "my-bot-token")   # logs "token=[REDACTED]"
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# Shapes of secrets that may reach a log line even when they were never registered.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Discord webhook URLs carry their own credential in the path.
    (
        re.compile(
            r"(https?://(?:[\w-]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d+/)[\w-]+"
        ),
        r"\1" + REDACTED,
    ),
    # Discord bot tokens: three base64url parts separated by dots.
    (re.compile(r"\b[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}\b"), REDACTED),
    # Authorization headers.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[\w\-.~+/=]{8,}"), r"\1 " + REDACTED),
    # key=value and "key": "value" pairs whose key names a secret.
    (
        re.compile(
            r"""(?ix)
            (\b[\w-]*(?:password|passwd|token|secret|api[_-]?key|authorization)[\w-]*
             ["']?\s*[:=]\s*["']?)
            ([^\s"',&}]+)
            """
        ),
        r"\1" + REDACTED,
    ),
    # user:password@ in URLs.
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1" + REDACTED + "@"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace registered secret values and secret-shaped substrings with [REDACTED]."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message and traceback with `redact`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = {s for s in secrets if s}

    def add_secret(self, secret: str) -> None:
        """Register one more value to redact."""
        if secret:
            self.secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_FILTER = RedactingFilter()
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(
    level: str | int = "INFO", secrets: Iterable[str] = (), stream: object = None
) -> None:
    """Install one stderr handler on the root logger, guarded by the redaction filter."""
    for secret in secrets:
        _FILTER.add_secret(secret)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_homelab", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_FILTER)
    handler._homelab = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    logging.captureWarnings(True)


def redaction_filter() -> RedactingFilter:
    """The process-wide filter (to register secrets learnt after start-up)."""
    return _FILTER
