"""The alerts dashboard: firing alerts by severity, the silences, and the last day's history
(from the alert history the bot keeps), with a chart of alerts started per hour.

Example::

    data = AlertsData(firing=(AlertLine("DiskFull", "critical", "nas:9100", "92 % full",
                                        since=now - 600),), now=now)
    ALERTS.build(Params("alerts"), data, View())
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.charts import Chart, Series
from bot.domain.dashboards.model import DashboardType, Params, View
from bot.domain.dashboards.panels import chart_embed, controls, fit_lines, images
from bot.domain.messages import Embed, Field, Message
from bot.domain.status import duration
from bot.domain.text import escape

log = logging.getLogger(__name__)

HISTORY_PNG = "alerts.png"
DAY = 86400.0
SEVERITIES = ("critical", "warning", "info")
RED, AMBER, GREEN = 0xE74C3C, 0xF39C12, 0x2ECC71
ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}


@dataclass(frozen=True, slots=True)
class AlertLine:
    """A firing alert as the dashboard shows it."""

    name: str
    severity: str
    instance: str
    summary: str
    since: float
    silenced: bool = False


@dataclass(frozen=True, slots=True)
class SilenceLine:
    """An active silence."""

    id: str
    matchers: str
    ends_at: float
    created_by: str
    comment: str = ""


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """An episode of the last day: when it started and, if it did, resolved."""

    name: str
    severity: str
    instance: str
    started: float
    resolved: float | None = None


@dataclass(frozen=True, slots=True)
class AlertsData:
    """Firing alerts, silences and the last day's episodes, at `now`."""

    firing: tuple[AlertLine, ...] = ()
    silences: tuple[SilenceLine, ...] = ()
    history: tuple[HistoryLine, ...] = ()
    now: float = 0.0


def _severity(s: str) -> str:
    return s if s in SEVERITIES else "info"


def alert_lines(alerts: Sequence[AlertLine], limit: int, now: float | None = None) -> str:
    """One line per alert, worst first: icon, name, instance, summary, for how long."""
    ordered = sorted(alerts, key=lambda a: (SEVERITIES.index(_severity(a.severity)), a.since))
    lines = []
    for a in ordered:
        muted = " 🔕" if a.silenced else ""
        since = f" · <t:{int(a.since)}:R>" if a.since else ""
        summary = f": {escape(a.summary[:120])}" if a.summary else ""
        lines.append(
            f"{ICONS[_severity(a.severity)]} **{escape(a.name)}** "
            f"{escape(a.instance)}{summary}{since}{muted}"
        )
    return fit_lines(lines, limit)


def alerts_charts(params: Params, data: AlertsData) -> dict[str, Chart]:
    """Episodes started per hour over the last day, one series per severity."""
    if not data.history:
        return {}
    end = data.now - data.now % 3600 + 3600
    start = end - DAY
    series = []
    for sev in SEVERITIES:
        hours = Counter(
            int((h.started - start) // 3600)
            for h in data.history
            if _severity(h.severity) == sev and h.started >= start
        )
        if hours:
            points = [(start + i * 3600, float(hours.get(i, 0))) for i in range(24)]
            series.append(Series({"severity": sev}, points, name=sev))
    return {
        HISTORY_PNG: Chart(
            "Alerts started per hour · last 24 h",
            tuple(series),
            start,
            end,
            unit="count",
            source="the bot's alert history",
            step=3600,
            minimum=0.0,
            bars=True,
            width=1200,
            height=450,
        )
    }


def alerts_dashboard(params: Params, data: AlertsData, view: View) -> Message:
    """Firing alerts by severity, silences, the last day's counts and noisiest alerts."""
    counts = Counter(_severity(a.severity) for a in data.firing)
    worst = next((s for s in SEVERITIES if counts[s]), "")
    colour = {"critical": RED, "warning": AMBER}.get(worst, GREEN if not data.firing else AMBER)
    title = f"Alerts: {len(data.firing)} firing" if data.firing else "Alerts: none firing"
    if data.firing:
        title += " (" + ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts[s]) + ")"
    fields: list[Field] = []
    if data.silences:
        lines = [
            f"🔕 `{escape(s.matchers)[:120]}` until <t:{int(s.ends_at)}:t>"
            f" by {escape(s.created_by)}"
            for s in data.silences
        ]
        fields.append(Field(f"Silences ({len(data.silences)})", fit_lines(lines, 1024)))
    day = [h for h in data.history if h.started >= data.now - DAY]
    if day:
        resolved = [h for h in day if h.resolved is not None]
        mttr = (
            sum(h.resolved - h.started for h in resolved if h.resolved) / len(resolved)
            if resolved
            else None
        )
        noisy = Counter(h.name for h in day).most_common(5)
        fields.append(
            Field(
                "Last 24 h",
                f"{len(day)} started · {len(resolved)} resolved · "
                f"mean time to resolve {duration(mttr)}",
                inline=False,
            )
        )
        fields.append(Field("Noisiest", "\n".join(f"{n}x {escape(name)}" for name, n in noisy)))
    embeds = [
        Embed(
            title=title,
            description=alert_lines(data.firing, 4096) or "Nothing is firing.",
            fields=tuple(fields),
            colour=colour,
        )
    ]
    if HISTORY_PNG in view.images:
        embeds.append(chart_embed("Alerts started per hour", HISTORY_PNG))
    return Message(
        embeds=tuple(embeds),
        images=images(view, {HISTORY_PNG: "alerts started per hour, last 24 h"}),
        rows=controls(view, params)[:1],  # Refresh only: the range does not apply
    )


ALERTS = DashboardType(
    "alerts",
    "firing alerts by severity, silences, and the last day's history",
    alerts_charts,
    alerts_dashboard,
)
