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
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any, TypeVar

from bot.domain.charts import AlertGraph, Chart, ChartGrid, Points, Series

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from numpy.typing import NDArray

log = logging.getLogger(__name__)
T = TypeVar("T")

WIDTH_PX, HEIGHT_PX, DPI = 1000, 450, 100  # the alert graph's size; charts default to 1200x600
MAX_SERIES = 10  # drawn and named in the legend; the rest are counted ("and 3 more")
BIG_SERIES = 10_000  # points: longer series are packed with numpy on their way to the pool
GAP_STEPS = 2.5  # a stretch with no point for longer than this many steps is drawn as a gap
# Discord's dark theme: the embed background and its text colours.
BACKGROUND = "#2b2d31"
FOREGROUND = "#dbdee1"
MUTED = "#949ba4"
GRID = "#3f4147"
THRESHOLD = "#ed4245"  # Discord's red; no series colour is close to it
FIRING = "#ed4245"
FIRING_ALPHA = 0.16
STACK_ALPHA = 0.45
# Ten colours that read on the dark background and stay apart from the threshold's red.
PALETTE = (
    "#5865f2", "#57f287", "#fee75c", "#eb459e", "#3ba5dc",
    "#f0883e", "#a371f7", "#2dd4bf", "#c9d1d9", "#9acd32",
)
# The layout, in pixels of a 450-pixel-high image (scaled with the height): fixed, because
# tight_layout costs more than the drawing on charts this small.
_LEFT, _RIGHT, _LEGEND, _TOP, _BOTTOM = 85.0, 25.0, 200.0, 49.5, 54.0
_BASE_HEIGHT = 450.0


def render_alert_graph(graph: AlertGraph) -> bytes:
    """The PNG (1000x450) of an alert's series, threshold and firing window."""
    window: tuple[tuple[float, float], ...] = ()
    if graph.firing_since is not None:
        until = graph.firing_until if graph.firing_until is not None else graph.end
        window = ((graph.firing_since, until),)
    threshold = graph.threshold
    return render_chart(
        Chart(
            title=graph.title,
            series=graph.series,
            start=graph.start,
            end=graph.end,
            unit=graph.unit,
            thresholds=(threshold,) if threshold is not None and math.isfinite(threshold) else (),
            windows=window,
            width=WIDTH_PX,
            height=HEIGHT_PX,
        )
    )


def render_chart(chart: Chart) -> bytes:
    """The PNG of a chart: its series (gaps as gaps), every threshold and shaded window."""
    return _render(chart, [_points_array(s.points) for s in chart.series])


def render_packed(chart: Chart, packed: Sequence[Any]) -> bytes:
    """`render_chart` of a chart whose points travel apart, as flat (t, v, t, v...) float
    arrays (`array('d')` or numpy): they pickle as bytes, where a tuple of 100k point tuples
    costs ~50 ms each way."""
    import numpy as np

    return _render(
        chart, [_in_time_order(np.asarray(a, dtype=np.float64).reshape(-1, 2)) for a in packed]
    )


def _render(chart: Chart, arrays: Sequence[NDArray[np.float64]]) -> bytes:
    """Draw `chart` whose series' points are `arrays` (n x 2: time, value) on Agg; PNG bytes."""
    return _png(_draw(chart, arrays).canvas)


def render_shared(chart: Chart, block: str, sizes: Sequence[int]) -> bytes:
    """`render_chart` of a chart whose points wait in the shared memory block named `block`,
    as flat (t, v, t, v...) floats, `sizes[i]` of them for series i; the caller unlinks it."""
    import numpy as np

    shm = shared_memory.SharedMemory(name=block)
    try:
        flat = np.ndarray((sum(sizes),), np.float64, buffer=shm.buf).copy()
    finally:
        shm.close()
    cuts = np.cumsum([0, *sizes])
    return render_packed(chart, [flat[cuts[i] : cuts[i + 1]] for i in range(len(sizes))])


def drawn_figure(chart: Chart) -> Any:
    """The matplotlib Figure `render_chart` draws for `chart` (tests read its texts and axes)."""
    return _draw(chart, [_points_array(s.points) for s in chart.series])


def render_grid(grid: ChartGrid) -> bytes:
    """The PNG of a grid of charts: each a panel drawn as `render_chart` draws a chart."""
    w, h = max(grid.width, 400), max(grid.height, 200)
    fig, canvas = _figure(w, h)
    cols = max(1, grid.columns)
    rows = max(1, -(-len(grid.charts) // cols))
    pw, ph = w / cols, h / rows
    for i, chart in enumerate(grid.charts):
        r, c = divmod(i, cols)
        box = (c * pw, h - (r + 1) * ph, pw, ph)  # from the bottom left, in pixels
        _draw_panel(fig, chart, [_points_array(s.points) for s in chart.series], box, (w, h))
    canvas.draw()
    return _png(canvas)


def _draw(chart: Chart, arrays: Sequence[NDArray[np.float64]]) -> Any:
    """Draw `chart` on this worker's figure of its size; return the drawn figure."""
    w, h = max(chart.width, 200), max(chart.height, 100)
    fig, canvas = _figure(w, h)
    _draw_panel(fig, chart, arrays, (0.0, 0.0, float(w), float(h)), (w, h))
    canvas.draw()
    return fig


def _draw_panel(
    fig: Any,
    chart: Chart,
    arrays: Sequence[NDArray[np.float64]],
    box: tuple[float, float, float, float],
    size: tuple[int, int],
) -> None:
    """Draw `chart` into `box` (x, y, width, height in pixels from the figure's bottom left)
    of a figure of `size` pixels: the whole figure for one chart, a panel of a grid."""
    import numpy as np
    from matplotlib.lines import Line2D

    x0, y0, pw, ph = box
    fw, fh = size
    w, h = pw, ph
    k = h / _BASE_HEIGHT  # fonts and margins grow with the height, so 1200x600 reads on a phone

    finite = [(s, _finite(a)) for s, a in zip(chart.series, arrays, strict=True)]
    shown = [(s, a) for s, a in finite if len(a)]
    if len(shown) > MAX_SERIES:  # the highest peaks are the ones worth seeing
        peaks = sorted(range(len(shown)), key=lambda i: -float(shown[i][1][:, 1].max()))
        keep = set(peaks[:MAX_SERIES])
        shown = [sa for i, sa in enumerate(shown) if i in keep]
    hidden = sum(1 for _, a in finite if len(a)) - len(shown)
    legend = len(shown) > 1
    left, right = _LEFT * k / w, 1 - ((_LEGEND if legend else _RIGHT) * k) / w
    bottom, top = _BOTTOM * k / h, 1 - _TOP * k / h
    # The panel's fractions of itself, as fractions of the figure.
    def fx(f: float) -> float:
        return (x0 + f * w) / fw

    def fy(f: float) -> float:
        return (y0 + f * h) / fh

    rect = (fx(left), fy(bottom), fx(right) - fx(left), fy(top) - fy(bottom))
    ax = _panel_axes(fig, size, rect, k)
    # The title as figure text: an axes title makes matplotlib measure the axis on every draw.
    fig.text(fx(left), fy(1 - 14 * k / h), _short(chart.title, 100), ha="left", va="top",
             color=FOREGROUND, fontsize=12 * k)
    if chart.source:
        fig.text(fx(4 / w), fy(4 / h), _short(chart.source, 80), ha="left", va="bottom",
                 color=MUTED, fontsize=7 * k)

    # The x axis is plain Unix seconds: ticks on round UTC clock times.
    end = max(chart.end, chart.start + 1)
    ax.set_xlim(chart.start, end)
    ax.set_xticks(time_ticks(chart.start, end))
    ax.xaxis.set_major_formatter(_func_formatter(time_formatter(chart.start, end)))

    columns = max(int((right - left) * w), 3)
    step = chart.step
    if chart.bars and shown:
        drawn = _draw_bars(ax, shown, step)
    elif chart.stacked and shown:
        drawn = _draw_stacked(ax, shown, step, columns, k)
    else:
        drawn = _draw_lines(ax, shown, step, columns, k)

    formatter = y_formatter(chart.unit)
    thresholds = [t for t in chart.thresholds if math.isfinite(t)]
    values = [v for ys in drawn for v in (float(np.nanmin(ys)), float(np.nanmax(ys)))]
    values += thresholds
    if values:
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
        # Non-negative data (rates, bytes, ratios) keeps its floor at zero, not below it.
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
        if chart.minimum is not None and chart.minimum <= min(values):
            lo = chart.minimum
        if chart.maximum is not None and chart.maximum >= max(values):
            hi = chart.maximum
        ax.set_ylim(lo, max(hi, lo + 1e-9))
    _unit_ticks(ax, chart.unit, formatter)
    if chart.bars:
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))

    for since, until in chart.windows:
        since, until = max(since, chart.start), min(until, end)
        if until > since:
            ax.axvspan(since, until, color=FIRING, alpha=FIRING_ALPHA, linewidth=0, zorder=0)
    for threshold in thresholds:
        ax.axhline(threshold, color=THRESHOLD, linestyle=(0, (6, 4)), linewidth=1.5 * k ** 0.5,
                   zorder=4)
        # On a box of the background, so that series passing under it do not garble it; the
        # threshold line itself stays on top of the box.
        ax.text(0.995, threshold, f"threshold {formatter(threshold)}",
                transform=ax.get_yaxis_transform(), ha="right",
                va=_label_side(ax, threshold, drawn, 16 * k / ((top - bottom) * h)),
                color=THRESHOLD,
                fontsize=9 * k, zorder=3.5,
                bbox={"facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.9, "pad": 1.5})
    if not shown:
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(_func_formatter(lambda _v: ""))
        ax.tick_params(axis="y", length=0)
        ax.text(0.5, 0.5, NO_DATA, transform=ax.transAxes, ha="center", va="center",
                color=MUTED, fontsize=16 * k, zorder=5,
                bbox={"facecolor": BACKGROUND, "edgecolor": "none", "pad": 6})
    if legend:
        handles = [Line2D([], [], color=PALETTE[i], linewidth=2.5 * k ** 0.5)
                   for i in range(len(shown))]
        labels = [_short(series_label(s), 24) for s, _ in shown]
        if hidden:
            handles.append(Line2D([], [], linestyle="none"))
            labels.append(f"and {hidden} more")
        leg = ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                        frameon=False, fontsize=9 * k, labelcolor=FOREGROUND, borderaxespad=0,
                        handlelength=1.6)
        if hidden:
            leg.get_texts()[-1].set_color(MUTED)


NO_DATA = "no data for this range"


def _label_side(
    ax: Axes, value: float, drawn: Sequence[NDArray[np.float64]], height: float
) -> str:
    """Where a threshold's label (at the right end, `height` a fraction of the axes) hides
    less data: "bottom" puts it above the line, "top" below it."""
    import numpy as np

    lo, hi = ax.get_ylim()
    band = height * (hi - lo)
    tails = [ys[int(len(ys) * 0.78):] for ys in drawn]
    tail = np.concatenate(tails) if tails else np.zeros(0)
    above = int(((tail >= value) & (tail <= value + band)).sum())
    below = int(((tail <= value) & (tail >= value - band)).sum())
    if value + band > hi or (above > below and value - band >= lo):
        return "top"
    return "bottom"
_FIGURES: dict[tuple[int, int], tuple[Any, Any]] = {}
# The axes drawn on each kept figure, by their rectangle: an axes made anew costs its ticks,
# spines and grid (a quarter of a 2x2 grid's time); one kept is emptied and drawn on again.
_AXES: dict[tuple[int, int], dict[tuple[float, ...], Any]] = {}
_MOST_AXES = 16  # rectangles kept per figure; more means the layouts vary: start again


def _figure(w: int, h: int) -> tuple[Any, Any]:
    """An empty figure of w x h pixels, kept per size in this worker: its Agg renderer, its
    axes (see `_panel_axes`) and matplotlib's text-metrics cache keyed on it survive from one
    chart to the next."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if (w, h) not in _FIGURES:
        fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI, facecolor=BACKGROUND)
        _FIGURES[(w, h)] = (fig, FigureCanvasAgg(fig))
        _AXES[(w, h)] = {}
    fig, canvas = _FIGURES[(w, h)]
    for text in list(fig.texts):
        text.remove()
    for ax in list(fig.axes):
        fig.delaxes(ax)
    return fig, canvas


def _panel_axes(
    fig: Any, size: tuple[int, int], rect: tuple[float, float, float, float], k: float
) -> Axes:
    """An empty, styled axes at `rect` (figure fractions) on the figure of `size` from
    `_figure`: the one kept from an earlier chart at the same place, emptied, else a new one."""
    kept = _AXES[size]
    key = (*(round(v, 9) for v in rect), k)
    ax: Axes | None = kept.get(key)
    if ax is None:
        if len(kept) >= _MOST_AXES:
            kept.clear()
        ax = fig.add_axes(rect)
        _style(ax, k)
        kept[key] = ax
        return ax
    _empty(ax)
    fig.add_axes(ax)
    return ax


def _empty(ax: Axes) -> None:
    """Back to what `_style` left: no artists, no legend, the default y ticks and limits."""
    from matplotlib import rcParams
    from matplotlib.ticker import AutoLocator, ScalarFormatter

    for artist in [*ax.lines, *ax.patches, *ax.texts, *ax.collections, *ax.images]:
        artist.remove()
    ax.containers.clear()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_locator(AutoLocator())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.tick_params(axis="y", length=rcParams["ytick.major.size"])


def _draw_lines(
    ax: Axes, shown: Sequence[tuple[Series, NDArray[np.float64]]], step: float, columns: int,
    k: float,
) -> list[NDArray[np.float64]]:
    """One line per series, downsampled to the plot's columns, gaps left open; the ys drawn."""

    drawn = []
    for i, (_series, a) in enumerate(shown):
        xs, ys = plot_data(a, step, columns)
        # A line of one point draws nothing: short series get markers so they show at all.
        marker = "o" if len(a) < 3 else None
        ax.plot(xs, ys, color=PALETTE[i], linewidth=1.6 * k ** 0.5, marker=marker,
                markersize=4 * k ** 0.5, solid_joinstyle="round")
        drawn.append(ys)
    return drawn


def _draw_bars(
    ax: Axes, shown: Sequence[tuple[Series, NDArray[np.float64]]], step: float
) -> list[NDArray[np.float64]]:
    """A bar per point over its bucket [t, t + step), the series side by side in it."""
    width = (step or 1.0) * 0.8 / len(shown)
    drawn = []
    for i, (_series, a) in enumerate(shown):
        left = a[:, 0] + (step or 1.0) * 0.1 + i * width
        ax.bar(left, a[:, 1], width=width, align="edge", color=PALETTE[i], linewidth=0,
               zorder=2)
        drawn.append(a[:, 1])
    return drawn


def _draw_stacked(
    ax: Axes, shown: Sequence[tuple[Series, NDArray[np.float64]]], step: float, columns: int,
    k: float,
) -> list[NDArray[np.float64]]:
    """Stacked areas on the union of the series' times; a time no series has is a gap."""
    import numpy as np

    xs = np.unique(np.concatenate([a[:, 0] for _, a in shown]))
    layers = np.full((len(shown), len(xs)), np.nan)
    for i, (_s, a) in enumerate(shown):
        layers[i, np.searchsorted(xs, a[:, 0])] = a[:, 1]
    total = np.nansum(layers, axis=0)
    if len(xs) > columns:  # the same points for every layer, chosen so the total's peaks stay
        keep = _downsample(xs, total, columns)
        xs, layers, total = xs[keep], layers[:, keep], total[keep]
    gap_at = _gap_positions(xs, _step_of(xs, step))
    tops = np.cumsum(np.nan_to_num(layers), axis=0)
    xs_g = np.insert(xs, gap_at, np.nan)
    lower = np.zeros(len(xs_g))
    for i in range(len(shown)):
        upper = np.insert(tops[i], gap_at, np.nan)
        ax.fill_between(xs_g, lower, upper, color=PALETTE[i], alpha=STACK_ALPHA, linewidth=0)
        ax.plot(xs_g, upper, color=PALETTE[i], linewidth=1.2 * k ** 0.5)
        lower = upper
    return [lower[np.isfinite(lower)], np.zeros(1)]


def plot_data(
    points: NDArray[np.float64], step: float, columns: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """What is drawn of a series' finite (time, value) rows: at most ~`columns` points chosen
    by MinMaxLTTB (peaks and dips kept), with NaN where no point came for > GAP_STEPS steps."""
    import numpy as np

    xs, ys = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    step = _step_of(xs, step)
    gaps = np.nonzero(np.diff(xs) > GAP_STEPS * step)[0]  # a gap between i and i + 1
    if len(xs) > columns:
        keep = _downsample(xs, ys, columns)
        # A gap lies between two kept points when one of the original gaps falls between them.
        before = np.searchsorted(gaps, keep, side="left")
        at = np.nonzero(np.diff(before) > 0)[0] + 1
        xs, ys = xs[keep], ys[keep]
    else:
        at = gaps + 1
    return np.insert(xs, at, np.nan), np.insert(ys, at, np.nan)


def _downsample(xs: NDArray[np.float64], ys: NDArray[np.float64], n: int) -> NDArray[Any]:
    """Indices of about `n` points that keep the shape, the highs and lows (MinMaxLTTB)."""
    import numpy as np
    from tsdownsample import MinMaxLTTBDownsampler

    if len(xs) <= max(n, 3):
        return np.arange(len(xs))
    keep = MinMaxLTTBDownsampler().downsample(  # type: ignore[no-untyped-call]
        xs, ys, n_out=max(n, 4))
    return np.asarray(keep, dtype=np.int64)


def _finite(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """The rows whose value is a number (NaN and ±Inf are missing points: gaps)."""
    import numpy as np

    ok = np.isfinite(a[:, 1]) & np.isfinite(a[:, 0])
    return a if ok.all() else a[ok]


def _step_of(xs: NDArray[np.float64], step: float) -> float:
    """The series' step: the chart's, else the median spacing of its points."""
    import numpy as np

    if step > 0:
        return step
    if len(xs) < 2:
        return math.inf
    return float(np.median(np.diff(xs))) or math.inf


def _gap_positions(xs: NDArray[np.float64], step: float) -> NDArray[Any]:
    """Where to insert a NaN in `xs` so that the line breaks at each gap."""
    import numpy as np

    return np.nonzero(np.diff(xs) > GAP_STEPS * step)[0] + 1


def _points_array(points: Points) -> NDArray[np.float64]:
    """A series' points as an n x 2 float array, in time order: a view of the packed floats,
    not a copy."""
    import numpy as np

    a = np.frombuffer(points.flat, np.float64) if len(points) else np.zeros(0)
    return _in_time_order(a.reshape(-1, 2))


def _in_time_order(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """The rows sorted by time (they nearly always come sorted: then untouched)."""
    import numpy as np

    if len(a) > 1 and (np.diff(a[:, 0]) < 0).any():
        return a[np.argsort(a[:, 0], kind="stable")]
    return a


def _png(canvas: Any) -> bytes:
    """The canvas as an RGB PNG: no alpha channel, no timestamp, fast compression."""
    import numpy as np
    from PIL import Image

    rgba = np.asarray(canvas.buffer_rgba())
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[:, :, :3])).save(
        buf, format="png", compress_level=PNG_COMPRESSION
    )
    return buf.getvalue()


PNG_COMPRESSION = 1  # zlib level: 6 (the default) costs ~10 ms more for 10 % fewer bytes


def series_label(series: Series) -> str:
    """How a series is named in the legend: its name, else instance, else host, else labels."""
    if series.name:
        return series.name
    labels = series.labels
    if labels.get("instance"):
        return labels["instance"]
    if labels.get("host"):
        return labels["host"]
    rest = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(rest.items())) or labels.get("__name__", "")


def y_formatter(unit: str) -> Callable[[float], str]:
    """The y value text for a unit: ratio as percent, seconds, IEC bytes, SI rates, °C."""
    return {
        "ratio": _percent,
        "seconds": _seconds,
        "bytes": _bytes,
        "bits_per_second": lambda v: _si(v, "b/s"),
        "bytes_per_second": lambda v: _si(v, "B/s"),
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
_SI = ("", "k", "M", "G", "T", "P", "E")


def _power(a: float, base: int, most: int) -> int:
    i = 0
    while a >= base and i < most:
        a /= base
        i += 1
    return i


def _iec_power(a: float) -> int:
    return _power(a, 1024, len(_IEC) - 1)


def _bytes(v: float) -> str:
    i = _iec_power(abs(v))
    return f"{math.copysign(abs(v) / 1024**i, v):.3g} {_IEC[i]}"


def _si(v: float, suffix: str) -> str:
    i = _power(abs(v), 1000, len(_SI) - 1)
    return f"{math.copysign(abs(v) / 1000**i, v):.3g} {_SI[i]}{suffix}"


def _unit_ticks(ax: Axes, unit: str, formatter: Callable[[float], str]) -> None:
    """Ticks at round numbers of the axis' unit (1.5 GiB, 200 Mb/s), one unit along the axis."""
    scaled = {"bytes": (1024, _IEC, ""), "bits_per_second": (1000, _SI, "b/s"),
              "bytes_per_second": (1000, _SI, "B/s")}
    if unit not in scaled:
        ax.yaxis.set_major_formatter(_func_formatter(formatter))
        return
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    base, prefixes, suffix = scaled[unit]
    lo, hi = ax.get_ylim()
    power = _power(max(abs(lo), abs(hi)), base, len(prefixes) - 1)
    scale = base**power
    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo / scale, hi / scale)
    ax.yaxis.set_major_locator(FixedLocator([t * scale for t in ticks if lo <= t * scale <= hi]))
    # One unit along the axis (0.8 TiB, 1 TiB), not each tick in its own (819 GiB, 1 TiB).
    name = f"{prefixes[power]}{suffix}"
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / scale:.3g} {name}"))


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


def time_formatter(start: float, end: float) -> Callable[[float], str]:
    """Tick text of the time axis: HH:MM up to two days, the date (03 Dec) beyond."""
    fmt = "%H:%M" if end - start <= 2 * 86400 else "%d %b"
    return lambda t: datetime.fromtimestamp(t, UTC).strftime(fmt)


def _func_formatter(fmt: Callable[[float], str]) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt(v))


def _style(ax: Axes, k: float = 1.0) -> None:
    ax.set_facecolor(BACKGROUND)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.tick_params(colors=MUTED, labelsize=9 * k)
    ax.grid(True, color=GRID, linewidth=0.8, alpha=0.9)
    ax.set_axisbelow(True)
    ax.set_xlabel("UTC", color=MUTED, fontsize=8 * k, loc="right")
    # Where matplotlib would put it below the tick labels (12.5 px of tick, pad and labelpad,
    # and 12.5 px a unit of k for the digits), fixed: measuring every tick label of both axes
    # to place the axis labels costs ~10 % of a chart.
    from matplotlib.transforms import ScaledTranslation

    fig = ax.get_figure(root=True)
    assert fig is not None  # an axes made by add_axes
    below = ScaledTranslation(0, -_LABEL_DROP * (1 + k) / DPI, fig.dpi_scale_trans)
    ax.xaxis.set_label_coords(1.0, 0.0, transform=ax.transAxes + below)
    ax.yaxis.set_label_coords(0.0, 0.5)  # no y label: nothing to measure for


_LABEL_DROP = 12.5


# -- the process pool ---------------------------------------------------------------------------


def _warm_up() -> int:
    """Import matplotlib (building its font cache if it is missing) and tsdownsample in a
    worker, render one small chart; return the worker's pid."""
    points = tuple((float(t), float(t % 7)) for t in range(0, 3600, 1))
    render_chart(Chart("warm-up", (Series({}, points), Series({"a": "b"}, points[:9])),
                       0.0, 3600.0, unit="bytes", thresholds=(3.0,), windows=((0.0, 60.0),)))
    return os.getpid()


def _end_with_parent() -> None:
    """Worker initializer: exit when the process that started the pool is gone.

    A bot killed with SIGKILL (the OOM killer, `systemctl kill`) never shuts its executor
    down; without this its idle workers would live on, orphaned, holding memory."""
    parent = multiprocessing.parent_process()
    if parent is None:  # called in the process that owns the pool: nothing to watch
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
                max_workers=self.max_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_end_with_parent,
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
        """The PNG of any chart. Its points are already packed floats (`Points`): short
        charts pickle them as bytes; long ones go through one shared memory block (a pipe
        moves ~4 ms per MB here, 25 ms for 4 x 100k points; the copy into the block ~2 ms)."""
        total = sum(len(s.points) for s in chart.series)
        if total <= BIG_SERIES:
            return await self.submit(render_chart, chart)
        bare = replace(chart, series=tuple(replace(s, points=Points()) for s in chart.series))
        sizes = [len(s.points.flat) for s in chart.series]
        try:
            block = shared_memory.SharedMemory(create=True, size=max(8 * sum(sizes), 8))
        except OSError as exc:  # no /dev/shm: the pipe, slower but fine
            log.warning("no shared memory for a chart's points (%s); sending them by pipe", exc)
            return await self.submit(render_chart, chart)
        try:
            at, buf = 0, block.buf
            assert buf is not None  # an open block has its buffer
            for series in chart.series:
                with memoryview(series.points.flat).cast("B") as raw:
                    buf[at : at + len(raw)] = raw  # one memcpy: ~0.5 ms per 100k points
                    at += len(raw)
            return await self.submit(render_shared, bare, block.name, sizes)
        finally:
            block.close()
            block.unlink()

    async def grid(self, grid: ChartGrid) -> bytes:
        """The PNG of a grid of charts (a dashboard's panels), in one render."""
        return await self.submit(render_grid, grid)

    async def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def close(self) -> None:
        """Stop the workers (waits for the render in progress)."""
        await self._shutdown()
