"""The pieces every dashboard is built from: stat lines, status lists, tables, chart images
and the live controls (refresh, range, host, "chart this").

Example::

    stat_line("CPU", "12 %")                       # '**CPU** 12 %'
    status_list([(True, "nas"), (False, "pi")])    # '🟢 nas\\n🔴 pi'
    controls(View(dashboard_id=3), Params("fleet"), charts=("cpu",))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from bot.domain.catalogue import dashboards as part
from bot.domain.dashboards.model import DASHBOARD_RANGES, Params, View
from bot.domain.messages import (
    Button,
    ButtonStyle,
    Embed,
    Image,
    Row,
    Select,
    SelectOption,
)
from bot.domain.text import defang, fit_lines

log = logging.getLogger(__name__)

__all__ = ["fit_lines"]

FIELD_LIMIT = 1024
DESCRIPTION_LIMIT = 4096
SELECT_OPTIONS = 25  # Discord's limit per select


def stat_line(label: str, value: str) -> str:
    """One figure with its label in bold."""
    return f"**{label}** {value}"


def status_list(items: Sequence[tuple[bool | None, str]], limit: int = DESCRIPTION_LIMIT) -> str:
    """Lines with a green (True), red (False) or grey (None) dot, cut to fit `limit` with a
    count of the lines left out."""
    dots = {True: "🟢", False: "🔴", None: "⚪"}
    return fit_lines([f"{dots[ok]} {text}" for ok, text in items], limit)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], limit: int = FIELD_LIMIT) -> str:
    """A monospaced table in a code block, as many rows as fit in `limit`."""
    cells = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    body = fit_lines([ln.replace("`", "'") for ln in lines], limit - 8)
    return f"```\n{body}\n```"


def chart_embed(title: str, filename: str, footer: str = "") -> Embed:
    """An embed that shows the attached image `filename`."""
    return Embed(title=title[:256], image=filename, footer=footer)


def images(view: View, described: Mapping[str, str]) -> tuple[Image, ...]:
    """The rendered images of `view` that the dashboard shows (filename -> description)."""
    return tuple(
        Image(name, view.images[name], description=text)
        for name, text in described.items()
        if name in view.images
    )


def controls(
    view: View, params: Params, *, hosts: bool = False, charts: Sequence[str] = ()
) -> tuple[Row, ...]:
    """The controls of a live dashboard: Refresh, a range select, a host select (host
    dashboards) and a "chart this" select (fleet). A one-off `show` has none: nothing would
    find it again."""
    if view.dashboard_id is None:
        return ()
    arg = str(view.dashboard_id)
    rows: list[Row] = [
        (
            Button(
                part.DASH_REFRESH.custom_id(arg),
                "Refresh",
                part.DASH_REFRESH.permission,
                ButtonStyle.SECONDARY,
            ),
        ),
        (
            Select(
                part.DASH_RANGE.custom_id(arg),
                tuple(SelectOption(f"last {r}", r) for r in DASHBOARD_RANGES),
                part.DASH_RANGE.permission,
                placeholder=f"Range: last {params.range}",
            ),
        ),
    ]
    if hosts and view.hosts:
        rows.append(
            (
                Select(
                    part.DASH_HOST.custom_id(arg),
                    tuple(
                        SelectOption(defang(h)[:100], h[:100]) for h in view.hosts[:SELECT_OPTIONS]
                    ),
                    part.DASH_HOST.permission,
                    placeholder=f"Host: {defang(params.target)[:80]}" if params.target else "Host",
                ),
            )
        )
    if charts:
        options = [SelectOption(f"{c} · all hosts", f"{c}|") for c in charts]
        options += [
            SelectOption(f"{c} · {defang(h)}"[:100], f"{c}|{h}"[:100])
            for h in view.hosts
            for c in charts[:2]
        ]
        rows.append(
            (
                Select(
                    part.DASH_CHART.custom_id(arg),
                    tuple(options[:SELECT_OPTIONS]),
                    part.DASH_CHART.permission,
                    placeholder="Chart this…",
                ),
            )
        )
    return tuple(rows)
