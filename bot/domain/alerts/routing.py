"""Routing as data: Alertmanager-style label matchers -> a destination, and who gets pinged.

Matchers follow Alertmanager's syntax: `name="value"`, `name!="value"`, `name=~"regex"`,
`name!~"regex"`; a regex is anchored at both ends, and a missing label matches as "".

Example::

    routes = (Route((parse_matcher('severity="critical"'),), Destination(channel_id=1)),)
    route({"severity": "critical"}, routes, Destination(channel_id=2))   # Destination(1, "")
    pings("warning", {"warning": (9,)}, QuietHours(22 * 60, 7 * 60, "UTC"), now)  # () at night
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

_MATCHER_RE = re.compile(
    r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*", re.DOTALL
)


class MatcherError(ValueError):
    """A matcher that cannot be parsed; `str()` quotes it and says what is wrong."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher."""

    name: str
    op: str  # one of =, !=, =~, !~
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this matcher (a missing label counts as "")."""
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = _compiled(self.value).fullmatch(have) is not None
        return hit if self.op == "=~" else not hit

    @property
    def is_regex(self) -> bool:
        """Whether the value is a regular expression."""
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        """Whether the matcher selects matching values (= and =~) rather than excluding them."""
        return self.op in ("=", "=~")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(pattern, re.DOTALL)
    return _CACHE[pattern]


def parse_matcher(text: str) -> Matcher:
    """`severity="critical"` -> Matcher; the value may be unquoted (`severity=critical`)."""
    m = _MATCHER_RE.fullmatch(text)
    if m is None:
        raise MatcherError(
            f"matcher {text!r}: write name OP value, OP one of = != =~ !~ "
            '(e.g. severity="critical")'
        )
    value = m["value"]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    elif '"' in value:
        raise MatcherError(f"matcher {text!r}: unbalanced quotes in the value")
    if m["op"] in ("=~", "!~"):
        try:
            _compiled(value)
        except re.error as exc:
            raise MatcherError(f"matcher {text!r}: bad regular expression: {exc}") from None
    return Matcher(m["name"], m["op"], value)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an alert goes: a Discord channel through the bot, or a Discord webhook URL read
    from a file or kept in the vault (`webhook_secret`, the secret's name).

    `channel_id` 0 and no webhook: the console face (no Discord at all).
    """

    channel_id: int = 0
    webhook_url_file: str = ""
    webhook_secret: str = ""

    @property
    def key(self) -> str:
        """A stable name for the target (stored with each message; no secrets in it)."""
        if self.webhook_url_file:
            return f"webhook:{self.webhook_url_file}"
        if self.webhook_secret:
            return f"webhook-secret:{self.webhook_secret}"
        if self.channel_id:
            return f"channel:{self.channel_id}"
        return "console"


@dataclass(frozen=True, slots=True)
class Route:
    """Every matcher must match for the route to take the alert."""

    matchers: tuple[Matcher, ...]
    destination: Destination

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher matches `labels`."""
        return all(m.matches(labels) for m in self.matchers)


def route(labels: Mapping[str, str], routes: Sequence[Route], default: Destination) -> Destination:
    """The destination of the first route that matches `labels`, else `default`."""
    for r in routes:
        if r.matches(labels):
            return r.destination
    return default


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Minutes after midnight (local to `timezone`) when quiet time starts and ends.

    `start == end` means no quiet hours; start > end spans midnight (22:00-07:00).
    """

    start_minute: int
    end_minute: int
    timezone: str = "UTC"

    @classmethod
    def parse(cls, start: str, end: str, timezone: str = "UTC") -> QuietHours:
        """From "HH:MM" strings ("" and "" for none)."""
        if not start and not end:
            return cls(0, 0, timezone)
        return cls(_minute(start), _minute(end), timezone)

    def active(self, at: float) -> bool:
        """Whether Unix time `at` falls inside the quiet hours."""
        if self.start_minute == self.end_minute:
            return False
        local = datetime.fromtimestamp(at, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def pings(
    severity: str,
    ping_role_ids: Mapping[str, Sequence[int]],
    quiet: QuietHours,
    at: float,
    allowed: Sequence[int] | None = None,
) -> tuple[int, ...]:
    """Role ids to ping for an alert of `severity` at time `at`.

    During quiet hours only critical alerts ping; a role not in `allowed` (the settings'
    allowed_ping_role_ids) never pings, whatever the routing says.
    """
    if quiet.active(at) and severity != "critical":
        return ()
    roles = tuple(ping_role_ids.get(severity, ()))
    if allowed is not None:
        roles = tuple(r for r in roles if r in set(allowed))
    return tuple(dict.fromkeys(roles))
