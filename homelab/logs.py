"""Logging configured in one place, with a filter that redacts secrets from every record.

Example::

    configure("INFO", secrets=["my-bot-token"])
    logging.getLogger("x").info("token=%s", "my-bot-token")   # logs "token=[REDACTED]"
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from types import TracebackType
from urllib.parse import quote, quote_plus

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
    # Slack (and Discord's Slack-compatible) incoming webhooks: the path is the credential.
    (
        re.compile(r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/)[\w/-]+"),
        r"\1" + REDACTED,
    ),
    # key=value and "key": "value" pairs whose key names a secret; a quoted value is
    # redacted whole, spaces included.
    (
        re.compile(
            r"""(?ix)
            (\b[\w-]*(?:password|passwd|passphrase|token|secret|api[_-]?key|access[_-]?key
                      |private[_-]?key|authorization|credentials?)[\w-]*
             ["']?\s*[:=]\s*)
            (?:"[^"]*"|'[^']*'|[^\s"',&}]+)
            """
        ),
        r"\1" + REDACTED,
    ),
    # Query-string credentials, e.g. InfluxDB 1.x's ?u=admin&p=secret.
    (re.compile(r"(?i)([?&](?:p|pw|pwd|pass|sig|signature)=)[^&\s#\"']+"), r"\1" + REDACTED),
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
        self.secrets: set[str] = set()
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        """Register one more value to redact, with its URL-encoded forms."""
        if secret:
            self.secrets |= {secret, quote(secret, safe=""), quote_plus(secret)}

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
    # Uncaught exceptions would be printed by Python straight to stderr, past the filter.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    if issubclass(kind, BrokenPipeError):
        # The reader went away (`homelab-bot do alerts | head -2`): nothing is wrong here, and
        # the exit status (1) says the output was cut. stdout goes to /dev/null, so the
        # interpreter's last flush at exit does not raise again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    logging.getLogger("homelab").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("homelab").error(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def redaction_filter() -> RedactingFilter:
    """The process-wide filter (to register secrets learnt after start-up)."""
    return _FILTER


class Throttle:
    """Lets one event per key through per interval, and counts the ones it held back.

    For what can repeat every few seconds (a malformed request, a full spool): the log shows
    it once per interval with how many more there were. Held-back events are reported with
    the next one let through. Thread-safe.

    Example::

        throttle = Throttle(60)
        held = throttle.allow("spool full")
        if held is not None:
            log.warning("spool full%s", throttle.note(held))
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def allow(self, key: Hashable = None) -> int | None:
        """None to stay quiet; else how many events of `key` were held back since the last."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)

    def note(self, held: int) -> str:
        """' (and N more like it in the last S s)' for a count from `allow`, else ''."""
        if not held:
            return ""
        return f" (and {held} more like it in the last {self.interval:g} s)"
