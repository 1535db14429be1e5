"""Charts as PNG bytes: the alert graph renderer, and the process pool it runs in.

matplotlib draws under one process-wide lock and holds the GIL while it does, so it never runs
in the bot's process: `ChartPool` renders in worker processes (spawned, warmed at start), and
this module imports matplotlib only inside the renderer, which only the workers call.

Example::

    pool = ChartPool(max_workers=1)
    await pool.start()
    png = await pool.alert_graph(graph)   # bytes of a 1000x450 PNG
    await pool.close()
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bot.domain.charts import AlertGraph, Chart, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)
T = TypeVar("T")

WIDTH_PX, HEIGHT_PX, DPI = 1000, 450, 100
MAX_SERIES = 10
# Discord's dark theme: the embed background and its text colours.
BACKGROUND = "#2b2d31"
FOREGROUND = "#dbdee1"
MUTED = "#949ba4"
GRID = "#3f4147"
THRESHOLD = "#ed4245"  # Discord's red; no series colour is close to it
FIRING = "#ed4245"
FIRING_ALPHA = 0.16
# Ten colours that read on the dark background and stay apart from the threshold's red.
PALETTE = (
    "#5865f2", "#57f287", "#fee75c", "#eb459e", "#3ba5dc",
    "#f0883e", "#a371f7", "#2dd4bf", "#c9d1d9", "#9acd32",
)


def render_alert_graph(graph: AlertGraph) -> bytes:
    """The PNG (about 1000x450) of an alert's series, threshold and firing window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    drawn = [s for s in graph.series if s.points][:MAX_SERIES]
    hidden = sum(1 for s in graph.series if s.points) - len(drawn)
    legend = len(drawn) > 1
    # A fixed layout: tight_layout costs more than the drawing on charts this small.
    fig.subplots_adjust(left=0.085, right=0.80 if legend else 0.975, top=0.89, bottom=0.12)
    ax = fig.add_subplot()
    _style(ax)
    ax.set_title(_short(graph.title, 100), loc="left", color=FOREGROUND, fontsize=12, pad=10)

    # The x axis is plain Unix seconds: ticks on round UTC clock times, labelled HH:MM.
    end = max(graph.end, graph.start + 1)
    ax.set_xlim(graph.start, end)
    ax.set_xticks(time_ticks(graph.start, end))
    ax.xaxis.set_major_formatter(_func_formatter(_hhmm))
    for i, series in enumerate(drawn):
        xs = [t for t, _ in series.points]
        ys = [v for _, v in series.points]
        # A line of one point draws nothing: short series get markers so they show at all.
        marker = "o" if len(xs) < 3 else None
        ax.plot(xs, ys, color=PALETTE[i], linewidth=1.6, marker=marker, markersize=4,
                label=_short(series_label(series), 24))

    values = [v for s in drawn for _, v in s.points if math.isfinite(v)]
    if graph.threshold is not None and math.isfinite(graph.threshold):
        values.append(graph.threshold)
    if values:
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    formatter = y_formatter(graph.unit)
    ax.yaxis.set_major_formatter(_func_formatter(formatter))
    if graph.unit == "bytes":
        _binary_ticks(ax)

    if graph.firing_since is not None:
        since = max(graph.firing_since, graph.start)
        until = min(graph.firing_until if graph.firing_until is not None else graph.end, graph.end)
        if until > since:
            ax.axvspan(since, until, color=FIRING, alpha=FIRING_ALPHA, linewidth=0,
                       zorder=0)
    if graph.threshold is not None and math.isfinite(graph.threshold):
        ax.axhline(graph.threshold, color=THRESHOLD, linestyle=(0, (6, 4)), linewidth=1.5,
                   zorder=4)
        # On a box of the background, so that series passing under it do not garble it; the
        # threshold line itself stays on top of the box.
        ax.text(0.995, graph.threshold, f"threshold {formatter(graph.threshold)}",
                transform=ax.get_yaxis_transform(), ha="right", va="bottom", color=THRESHOLD,
                fontsize=9, zorder=3.5,
                bbox={"facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.9, "pad": 1.5})
    if not drawn:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center",
                color=MUTED, fontsize=16, zorder=5,
                bbox={"facecolor": BACKGROUND, "edgecolor": "none", "pad": 6})
    if legend:
        title = f"+{hidden} more not shown" if hidden else None
        leg = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9,
                        title=title, title_fontsize=8, labelcolor=FOREGROUND, borderaxespad=0)
        if title:
            leg.get_title().set_color(MUTED)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor=BACKGROUND)
    return buf.getvalue()


def render_chart(chart: Chart) -> bytes:
    """The PNG of a chart: its series, its first threshold and first shaded window."""
    window = chart.windows[0] if chart.windows else (None, None)
    return render_alert_graph(
        AlertGraph(
            title=chart.title,
            series=chart.series,
            start=chart.start,
            end=chart.end,
            threshold=chart.thresholds[0] if chart.thresholds else None,
            firing_since=window[0],
            firing_until=window[1],
            unit=chart.unit,
        )
    )


def series_label(series: Series) -> str:
    """How a series is named in the legend: its instance, else host, else its labels."""
    labels = series.labels
    if labels.get("instance"):
        return labels["instance"]
    if labels.get("host"):
        return labels["host"]
    rest = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(rest.items())) or labels.get("__name__", "")


def y_formatter(unit: str) -> Callable[[float], str]:
    """The y tick text for a unit: ratio as percent, seconds, IEC bytes, °C, else plain."""
    return {
        "ratio": _percent,
        "seconds": _seconds,
        "bytes": _bytes,
        "celsius": lambda v: f"{_num(v)} °C",
    }.get(unit, _num)


def _num(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.3g}"


def _percent(v: float) -> str:
    return f"{_num(round(v * 100, 6))}%"


def _seconds(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0 s"
    if a < 1:
        return f"{_num(round(v * 1000, 6))} ms"
    if a < 120:
        return f"{_num(v)} s"
    if a < 7200:
        return f"{_num(v / 60)} min"
    if a < 172800:
        return f"{_num(v / 3600)} h"
    return f"{_num(v / 86400)} d"


_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _iec_power(a: float) -> int:
    i = 0
    while a >= 1024 and i < len(_IEC) - 1:
        a /= 1024
        i += 1
    return i


def _bytes(v: float) -> str:
    i = _iec_power(abs(v))
    return f"{math.copysign(abs(v) / 1024**i, v):.3g} {_IEC[i]}"


def _binary_ticks(ax: Axes) -> None:
    """Ticks at round numbers of the IEC unit (1 GiB, 1.5 GiB), not of decimal bytes."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    lo, hi = ax.get_ylim()
    power = _iec_power(max(abs(lo), abs(hi)))
    scale = 1024**power
    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo / scale, hi / scale)
    ax.yaxis.set_major_locator(FixedLocator([t * scale for t in ticks if lo <= t * scale <= hi]))
    # One unit along the axis (0.8 TiB, 1 TiB), not each tick in its own (819 GiB, 1 TiB).
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / scale:.3g} {_IEC[power]}"))


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# Tick spacings of the time axis; each divides a day, so multiples of it fall on UTC clock times.
_TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(start: float, end: float, most: int = 8) -> list[float]:
    """Unix times on round UTC clock times (12:00, 12:10...) across [start, end]."""
    span = max(end - start, 1.0)
    days = math.ceil(span / most / 86400) * 86400
    step = next((s for s in _TIME_STEPS if span / s <= most), days)
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, int(step))]


def _hhmm(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M")


def _func_formatter(fmt: Callable[[float], str]) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt(v))


def _style(ax: Axes) -> None:
    ax.set_facecolor(BACKGROUND)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.tick_params(colors=MUTED, labelsize=9)
    ax.grid(True, color=GRID, linewidth=0.8, alpha=0.9)
    ax.set_axisbelow(True)
    ax.set_xlabel("UTC", color=MUTED, fontsize=8, loc="right", labelpad=2)


# -- the process pool ---------------------------------------------------------------------------


def _warm_up() -> int:
    """Import matplotlib in a worker and render one tiny chart; return the worker's pid."""
    render_alert_graph(AlertGraph("warm-up", (Series({}, ((0.0, 0.0), (60.0, 1.0))),), 0.0, 60.0))
    return os.getpid()


class ChartPool:
    """Renders charts in worker processes; implements `ChartRenderer`."""

    def __init__(self, max_workers: int = 1) -> None:
        if max_workers < 1:
            raise ValueError("ChartPool needs max_workers >= 1")
        self.max_workers = max_workers
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: a fork of a process running an event loop and threads can
            # inherit held locks; the worker functions are module level so spawn finds them.
            self._pool = ProcessPoolExecutor(
                max_workers=self.max_workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    async def start(self) -> None:
        """Start a worker and warm it: matplotlib imported and one chart drawn."""
        pid = await self.submit(_warm_up)
        log.info("chart worker %d ready (%d max)", pid, self.max_workers)

    async def submit(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a module-level `fn(*args)` in the pool; a dead pool is replaced once."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), fn, *args)
        except BrokenProcessPool:
            log.warning("a chart worker died; starting a new pool")
            await self._shutdown()
            return await loop.run_in_executor(self._executor(), fn, *args)

    async def alert_graph(self, graph: AlertGraph) -> bytes:
        """The PNG of one alert's expression with its threshold and firing window."""
        return await self.submit(render_alert_graph, graph)

    async def chart(self, chart: Chart) -> bytes:
        """The PNG of any chart."""
        return await self.submit(render_chart, chart)

    async def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def close(self) -> None:
        """Stop the workers (waits for the render in progress)."""
        await self._shutdown()
