"""The alert graph's cost: our renderer against pyplot with tight_layout, and what running it
in a thread or in the chart pool does to an event loop that must keep answering Discord.

Both renderers draw the same graph (4 series of 1,000 points, threshold, firing window) at the
same size. The loop figure is the worst delay of a 10 ms ticker while the renders run.

Example::

    print(format_charts(compare_charts(renders=20)))
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.adapters.charts import DPI, HEIGHT_PX, WIDTH_PX, ChartPool, render_alert_graph
from bot.domain.charts import AlertGraph, Series

END = 1796302800.0


@dataclass(frozen=True, slots=True)
class ChartFigures:
    """Wall ms per render for both renderers, and the event loop's worst lag both ways."""

    renders: int
    ours_ms: float
    pyplot_ms: float
    pool_ms: float
    thread_lag_ms: float
    pool_lag_ms: float


def sample_graph(series: int = 4, points: int = 1000) -> AlertGraph:
    """An hour of `series` wavy series with a threshold and an open firing window."""
    start = END - 3600
    step = 3600 / (points - 1)
    return AlertGraph(
        title="HostHighCpu bench",
        series=tuple(
            Series(
                {"instance": f"host{k}:9101"},
                tuple((start + i * step, 0.6 + 0.3 * math.sin(i / 50 + k)) for i in range(points)),
            )
            for k in range(series)
        ),
        start=start, end=END, threshold=0.8, firing_since=END - 900, unit="ratio",
    )


def pyplot_baseline(graph: AlertGraph) -> bytes:
    """What people write: pyplot, tight_layout, default styling (the same elements drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    for s in graph.series:
        ax.plot([t for t, _ in s.points], [v for _, v in s.points], label=s.labels["instance"])
    if graph.threshold is not None:
        ax.axhline(graph.threshold, color="red", linestyle="--")
    if graph.firing_since is not None:
        ax.axvspan(graph.firing_since, graph.end, color="red", alpha=0.15)
    ax.set_title(graph.title)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _ms_per_render(fn: Callable[[AlertGraph], bytes], graph: AlertGraph, renders: int) -> float:
    fn(graph)  # fonts and caches, outside the timing
    start = time.perf_counter()
    for _ in range(renders):
        fn(graph)
    return (time.perf_counter() - start) * 1000 / renders


async def _worst_lag_ms(render: Callable[[], Awaitable[bytes]], renders: int) -> float:
    """The worst lateness of a 10 ms ticker while `renders` renders run one after another."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, time.perf_counter() - before - 0.01)

    task = asyncio.create_task(ticker())
    for _ in range(renders):
        await render()
    done.set()
    await task
    return worst * 1000


async def _compare_async(graph: AlertGraph, renders: int) -> tuple[float, float, float]:
    pool = ChartPool()
    await pool.start()
    try:
        start = time.perf_counter()
        for _ in range(renders):
            await pool.alert_graph(graph)
        pool_ms = (time.perf_counter() - start) * 1000 / renders
        pool_lag = await _worst_lag_ms(lambda: pool.alert_graph(graph), renders)
    finally:
        await pool.close()
    thread_lag = await _worst_lag_ms(lambda: asyncio.to_thread(render_alert_graph, graph), renders)
    return pool_ms, thread_lag, pool_lag


def compare_charts(renders: int = 20) -> ChartFigures:
    """Time both renderers in process, then the pool and a thread under a running loop."""
    graph = sample_graph()
    ours = _ms_per_render(render_alert_graph, graph, renders)
    baseline = _ms_per_render(pyplot_baseline, graph, renders)
    pool_ms, thread_lag, pool_lag = asyncio.run(_compare_async(graph, renders))
    return ChartFigures(renders, ours, baseline, pool_ms, thread_lag, pool_lag)


def format_charts(f: ChartFigures) -> str:
    """The figures, with the ratios against the baselines (pyplot; a thread) of the same run."""

    def ratio(base: float, ours: float) -> str:
        return f"{base / ours:.2f}x" if ours > 0 else "inf"

    return "\n".join([
        f"alert graph, 4 series x 1,000 points, {WIDTH_PX}x{HEIGHT_PX}, {f.renders} renders:",
        f"  render_alert_graph (Figure, fixed layout) {f.ours_ms:8.1f} ms",
        f"  pyplot + tight_layout (baseline)          {f.pyplot_ms:8.1f} ms"
        f"   (ours {ratio(f.pyplot_ms, f.ours_ms)} faster)",
        f"  through ChartPool (pickling included)     {f.pool_ms:8.1f} ms",
        "event loop's worst lag while rendering:",
        f"  asyncio.to_thread (baseline)              {f.thread_lag_ms:8.1f} ms",
        f"  ChartPool                                 {f.pool_lag_ms:8.1f} ms"
        f"   ({ratio(f.thread_lag_ms, f.pool_lag_ms)} smaller)",
    ])  # fmt: skip
