"""Thresholds as data: which alerts read `homelab_alert_threshold`, in what unit, within what
bounds, and how a host the user names becomes the `instance` the rules match.

The list below is the domain's own copy of what rules/alerts.yml reads; a test derives the
same list from the rules and fails when they disagree (docs/alerting.md, "Thresholds as data").

Example::

    alert = check("hosthighcpu", 0.8)              # THRESHOLD_ALERTS' HostHighCpu
    resolve_instance("nas", {"nas": "192.168.1.5:9101"})   # '192.168.1.5:9101'
    resolve_instance("", {})                       # '' (the whole fleet)
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.domain.messages import Embed, Field, Message
from bot.domain.text import escape

log = logging.getLogger(__name__)

FLEET = ""  # the instance of a fleet-wide threshold: published without an instance label

# An instance as Prometheus shows it: host:port, the host a name, an IPv4 address or [IPv6].
INSTANCE_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")


class ThresholdError(ValueError):
    """An alert that reads no threshold, a value out of its range, or a host not known;
    `str()` is a sentence saying what is allowed."""


class UnknownHost(ThresholdError):
    """The host is neither an alias from [bot.hosts] nor an instance (host:port)."""


@dataclass(frozen=True, slots=True)
class ThresholdAlert:
    """An alert that reads thresholds: its unit, its built-in default and the sane range.

    `above_minimum`: the value must be strictly greater than `minimum` (a clock skew of 0 s
    would fire on every host all the time).
    """

    name: str
    unit: str
    default: float
    minimum: float
    maximum: float
    above_minimum: bool = False

    def allows(self, value: float) -> bool:
        """Whether `value` is a finite number within this alert's range."""
        if not math.isfinite(value) or value > self.maximum:
            return False
        return value > self.minimum if self.above_minimum else value >= self.minimum

    def range_text(self) -> str:
        """The allowed range as a user reads it: `0..1`, `> 0 and at most 3600`."""
        if self.above_minimum:
            return f"above {number(self.minimum)} and at most {number(self.maximum)}"
        return f"{number(self.minimum)}..{number(self.maximum)}"


RATIO = "ratio 0..1"

# The alerts of rules/alerts.yml that read homelab_alert_threshold, with their defaults.
THRESHOLD_ALERTS: tuple[ThresholdAlert, ...] = (
    ThresholdAlert("HostHighCpu", RATIO, 0.9, 0.0, 1.0),
    ThresholdAlert("HostHighLoad", "load per CPU", 2.0, 0.0, 100.0, above_minimum=True),
    ThresholdAlert("HostMemoryPressure", RATIO, 0.9, 0.0, 1.0),
    ThresholdAlert("HostHighSwapUsage", RATIO, 0.5, 0.0, 1.0),
    ThresholdAlert("HostDiskAlmostFull", RATIO, 0.9, 0.0, 1.0),
    ThresholdAlert("HostInodesAlmostFull", RATIO, 0.9, 0.0, 1.0),
    ThresholdAlert("HostHighTemperature", "°C", 80.0, -50.0, 150.0),
    ThresholdAlert("HostNetworkErrors", "errors/s", 1.0, 0.0, 1e6),
    ThresholdAlert("HostClockSkew", "seconds", 1.0, 0.0, 3600.0, above_minimum=True),
    ThresholdAlert("ExporterInfluxSpoolFilling", RATIO, 0.8, 0.0, 1.0),
)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A threshold set from Discord or the console: fleet-wide when `instance` is empty."""

    alertname: str
    instance: str
    value: float
    set_by: str = ""
    set_at: float = 0.0

    @property
    def fleet_wide(self) -> bool:
        """True for the whole fleet (no instance label on the published series)."""
        return self.instance == FLEET


def number(x: float) -> str:
    """A threshold as a user reads it: `0.85`, `2`, `1e+06`."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def alert_names() -> tuple[str, ...]:
    """The names of the alerts that read thresholds."""
    return tuple(a.name for a in THRESHOLD_ALERTS)


def find_alert(alertname: str) -> ThresholdAlert:
    """The threshold alert called `alertname` (case-insensitively), or a ThresholdError that
    names the alerts that read thresholds."""
    wanted = alertname.strip().casefold()
    for alert in THRESHOLD_ALERTS:
        if alert.name.casefold() == wanted:
            return alert
    raise ThresholdError(
        f"{alertname!r} is not an alert that reads thresholds; choose one of: "
        + ", ".join(alert_names())
    )


def check(alertname: str, value: float) -> ThresholdAlert:
    """The alert, when `value` is a valid threshold for it; otherwise a ThresholdError naming
    the allowed alerts or the allowed range in the alert's unit."""
    alert = find_alert(alertname)
    if not alert.allows(value):
        raise ThresholdError(
            f"{alert.name}: {number(value)} is out of range; give a value "
            f"{alert.range_text()} ({alert.unit}, default {number(alert.default)})"
        )
    return alert


def resolve_instance(host: str | None, aliases: Mapping[str, str]) -> str:
    """The instance a user's host means: "" (fleet) for none, an alias's instance (names match
    case-insensitively), or an instance given as host:port as is; else a ThresholdError."""
    text = (host or "").strip()
    if not text:
        return FLEET
    for alias, instance in aliases.items():
        if alias.casefold() == text.casefold():
            return instance
    if INSTANCE_RE.fullmatch(text):
        return text
    known = ", ".join(sorted(aliases)) or "none set"
    raise UnknownHost(
        f"unknown host {text!r}: give a name from [bot.hosts] aliases ({known}) or the "
        "instance as Prometheus shows it (host:port, e.g. nas:9101)"
    )


def host_label(instance: str, aliases: Mapping[str, str]) -> str:
    """How a list names a threshold's host: `nas (192.168.1.5:9101)`, the instance, or
    `the whole fleet`."""
    if instance == FLEET:
        return "the whole fleet"
    names = sorted(a for a, i in aliases.items() if i == instance)
    return f"{names[0]} ({instance})" if names else instance


def set_message(threshold: Threshold, alert: ThresholdAlert, aliases: Mapping[str, str]) -> Message:
    """The answer to a threshold set: what now applies, and when it takes effect."""
    where = escape(host_label(threshold.instance, aliases))
    return Message(
        text=(
            f"**{alert.name}** threshold for {where} set to **{number(threshold.value)}** "
            f"({alert.unit}; default {number(alert.default)}). It takes effect at the next "
            "rule evaluation after Prometheus scrapes the bot."
        ),
        ephemeral=True,
    )


def cleared_message(
    alert: ThresholdAlert, instance: str, removed: bool, aliases: Mapping[str, str]
) -> Message:
    """The answer to a threshold clear: removed, or there was nothing to remove."""
    where = escape(host_label(instance, aliases))
    if not removed:
        return Message(
            text=f"No **{alert.name}** threshold is set for {where}; nothing to clear.",
            ephemeral=True,
            outcome="not_found",
        )
    fallback = (
        "the fleet-wide threshold, if set, else the default"
        if instance != FLEET
        else f"the default ({number(alert.default)})"
    )
    return Message(
        text=f"**{alert.name}** threshold for {where} cleared: {fallback} applies again.",
        ephemeral=True,
    )


def list_message(thresholds: Iterable[Threshold], aliases: Mapping[str, str]) -> Message:
    """Every threshold set, by alert, each with its host, value, who set it; defaults for
    the rest."""
    by_alert: dict[str, list[Threshold]] = {}
    for t in thresholds:
        by_alert.setdefault(t.alertname, []).append(t)
    fields: list[Field] = []
    shown: set[str] = set()
    for alert in THRESHOLD_ALERTS:
        mine = sorted(by_alert.get(alert.name, []), key=lambda t: (not t.fleet_wide, t.instance))
        if not mine:
            continue
        shown.add(alert.name)
        lines = [
            f"{escape(host_label(t.instance, aliases))}: **{number(t.value)}**"
            + (f" (by {escape(t.set_by)})" if t.set_by else "")
            for t in mine[:20]
        ]
        if len(mine) > 20:
            lines.append(f"… and {len(mine) - 20} more")
        fields.append(
            Field(f"{alert.name} ({alert.unit}, default {number(alert.default)})", "\n".join(lines))
        )
    unset = [a.name for a in THRESHOLD_ALERTS if a.name not in shown]
    footer = ("Defaults apply to: " + ", ".join(unset)) if unset else ""
    if not fields:
        return Message(
            embeds=(
                Embed(
                    "Thresholds",
                    "None set: every alert uses its built-in default.",
                    footer=footer,
                ),
            ),
            ephemeral=True,
        )
    return Message(embeds=(Embed("Thresholds", fields=tuple(fields[:25]), footer=footer),),
                   ephemeral=True)  # fmt: skip
