"""The fleet dashboard's 2x2 grid: the bot's renderer (one figure kept per size, a fixed
layout, four panels in one render) against a naive pyplot baseline (plt.subplots(2, 2),
tight_layout, savefig) on the same data, in the same run, taken in turns.

Example::

    python -m bench --only dashboards
"""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass

from bot.adapters.charts import render_grid
from bot.domain.charts import ChartGrid
from bot.tools.dashboard_gallery import example_drawings

TARGET = 0.5  # ours / baseline


@dataclass(frozen=True, slots=True)
class GridFigures:
    """Median milliseconds per 2x2 PNG, each way."""

    renders: int
    ours_ms: float
    baseline_ms: float

    @property
    def ratio(self) -> float:
        """Ours over the baseline."""
        return self.ours_ms / self.baseline_ms


def _baseline(grid: ChartGrid) -> bytes:
    """What a bot without a renderer of its own does: pyplot, state and all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8), dpi=100)
    for ax, chart in zip(axes.flat, grid.charts, strict=False):
        for s in chart.series:
            xs = [t for t, _ in s.points]
            ys = [v for _, v in s.points]
            ax.plot(xs, ys, label=s.name or str(s.labels))
        ax.set_title(chart.title)
        ax.legend(loc="upper left", fontsize=7)
        for t in chart.thresholds:
            ax.axhline(t, color="red", linestyle="--")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def compare_grid(renders: int = 10) -> GridFigures:
    """Both ways `renders` times, in turns, after one untimed render each."""
    grid = example_drawings()["fleet.png"]
    assert isinstance(grid, ChartGrid)
    render_grid(grid)
    _baseline(grid)
    ours: list[float] = []
    base: list[float] = []
    for _ in range(renders):
        t = time.perf_counter()
        render_grid(grid)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        _baseline(grid)
        base.append(time.perf_counter() - t)
    return GridFigures(renders, statistics.median(ours) * 1000, statistics.median(base) * 1000)


def format_grid(f: GridFigures) -> str:
    """The figures and the ratio against the target."""
    return "\n".join([
        f"fleet dashboard 2x2 grid, 1200x800, 4 panels of 360 points (median of {f.renders}):",
        f"  ours: render_grid (the chart pool's work) {f.ours_ms:8.1f} ms",
        f"  baseline: pyplot subplots + tight_layout  {f.baseline_ms:8.1f} ms",
        f"  ours / baseline                           {f.ratio:8.2f}x  (target <= {TARGET}x)",
    ])
