"""The chart renderer's cost: ours (process pool, MinMaxLTTB downsampling, fixed layout)
against what people write (pyplot, tight_layout, every point drawn, on the event loop's thread),
and what each does to an event loop that must keep answering Discord.

One 1200x600 chart of 4 series (threshold, shaded window) at 1,000 and at 100,000 points per
series, both ways in the same run. The loop figure is the p99 (and worst) lateness of a 10 ms
ticker while 20 charts render one after another.

Example::

    print(format_charts(compare_charts(renders=20)))
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.adapters.charts import DPI, ChartPool, render_chart
from bot.adapters.prometheus import _parse_matrix
from bot.domain.charts import Chart, Series

END = 1796302800.0
WIDTH, HEIGHT = 1200, 600
# Targets of issue 10: 1k points <= 0.6x the baseline, 100k <= 1.2x our 1k, loop p99 <= 50 ms.
TARGET_1K, TARGET_100K, TARGET_LAG_MS = 0.6, 1.2, 50.0


@dataclass(frozen=True, slots=True)
class ChartFigures:
    """Wall ms per render both ways at 1k and 100k points, and the loop's lag both ways."""

    renders: int
    small: int  # points per series of the two sizes (1k and 100k unless a test asks less)
    big: int
    ours_1k_ms: float
    ours_100k_ms: float
    base_1k_ms: float
    base_100k_ms: float
    draw_1k_ms: float  # the worker's part alone: render_chart in this process
    draw_100k_ms: float
    parse_1k_ms: float  # a Prometheus range answer (JSON text) of 4 series into Series
    parse_11k_ms: float  # ... at 11,000 points, the most Prometheus returns per series
    ours_lag_p99_ms: float
    ours_lag_max_ms: float
    base_lag_p99_ms: float
    base_lag_max_ms: float

    def met(self) -> bool:
        """Whether every target holds."""
        return (
            self.ours_1k_ms <= TARGET_1K * self.base_1k_ms
            and self.ours_100k_ms <= TARGET_100K * self.ours_1k_ms
            and self.ours_lag_p99_ms <= TARGET_LAG_MS
        )


def sample_chart(series: int = 4, points: int = 1000) -> Chart:
    """An hour of `series` wavy series with a threshold and an open shaded window."""
    start = END - 3600
    step = 3600 / (points - 1)
    return Chart(
        title="CPU busy, bench",
        series=tuple(
            Series(
                {"instance": f"host{k}:9101"},
                tuple((start + i * step, 0.6 + 0.3 * math.sin(i * 20 / points + k))
                      for i in range(points)),
            )
            for k in range(series)
        ),
        start=start, end=END, unit="ratio", thresholds=(0.8,), windows=((END - 900, END),),
        step=step, width=WIDTH, height=HEIGHT,
    )  # fmt: skip


def pyplot_baseline(chart: Chart) -> bytes:
    """What people write: pyplot, tight_layout, default styling, every point (same elements)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(chart.width / DPI, chart.height / DPI), dpi=DPI)
    for s in chart.series:
        ax.plot([t for t, _ in s.points], [v for _, v in s.points], label=s.labels["instance"])
    for threshold in chart.thresholds:
        ax.axhline(threshold, color="red", linestyle="--")
    for since, until in chart.windows:
        ax.axvspan(since, until, color="red", alpha=0.15)
    ax.set_title(chart.title)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


class _Ticker:
    """Counts how late each 10 ms sleep of the event loop wakes up."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(max(0.0, time.perf_counter() - before - 0.01) * 1000)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._done.set()
        if self._task is not None:
            await self._task

    def p99(self) -> float:
        lags = sorted(self.lags)
        return lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else 0.0


async def _ms_per(
    *renders: Callable[[], Awaitable[bytes]], rounds: int, warm: bool = True
) -> list[float]:
    """Median wall ms of each render, taken in turns (one of each per round), so that the
    load of a shared machine falls on every way alike; `warm`: one untimed render first."""
    for render in renders if warm else ():
        await render()  # caches, outside the timing
    times: list[list[float]] = [[] for _ in renders]
    for _ in range(rounds):
        for i, render in enumerate(renders):
            start = time.perf_counter()
            await render()
            times[i].append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


async def _lag(render: Callable[[], Awaitable[bytes]], renders: int) -> tuple[float, float]:
    ticker = _Ticker()
    ticker.start()
    await asyncio.sleep(0.02)
    for _ in range(renders):
        await render()
        await asyncio.sleep(0)  # as between two interactions: the ticker may run
    await asyncio.sleep(0.02)
    await ticker.stop()
    return ticker.p99(), max(ticker.lags, default=0.0)


async def _on_loop(chart: Chart) -> bytes:
    """The baseline rendered right on the event loop's thread, as a naive handler would."""
    return pyplot_baseline(chart)


async def _compare(
    renders: int, lag_renders: int, sizes: tuple[int, int], warm: bool
) -> ChartFigures:
    small, big = sample_chart(points=sizes[0]), sample_chart(points=sizes[1])
    pool = ChartPool()
    await pool.start()
    try:
        ours_1k, base_1k, draw_1k = await _ms_per(
            lambda: pool.chart(small), lambda: _on_loop(small), lambda: _in_process(small),
            rounds=renders, warm=warm,
        )
        ours_100k, base_100k, draw_100k = await _ms_per(
            lambda: pool.chart(big), lambda: _on_loop(big), lambda: _in_process(big),
            rounds=max(renders // 2, 1), warm=warm,
        )
        ours_lag = await _lag(lambda: pool.chart(small), lag_renders)
    finally:
        await pool.close()
    base_lag = await _lag(lambda: _on_loop(small), lag_renders)
    answers = [prometheus_answer(sample_chart(points=n)) for n in (sizes[0], min(sizes[1], 11_000))]
    parse_1k, parse_11k = await _ms_per(
        *[lambda text=text: _parse(text) for text in answers], rounds=max(renders // 2, 1),
        warm=warm)
    return ChartFigures(
        renders, *sizes, ours_1k, ours_100k, base_1k, base_100k, draw_1k, draw_100k, parse_1k,
        parse_11k, ours_lag[0], ours_lag[1], base_lag[0], base_lag[1],
    )  # fmt: skip


def prometheus_answer(chart: Chart) -> str:
    """The JSON text Prometheus answers a range query with, holding `chart`'s series."""
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": s.labels, "values": [[t, f"{v:.15g}"] for t, v in s.points]}
        for s in chart.series]}})  # fmt: skip


async def _parse(text: str) -> bytes:
    return bytes(len(_parse_matrix("bench", 200, text, [])))


async def _in_process(chart: Chart) -> bytes:
    return render_chart(chart)


def compare_charts(
    renders: int = 20, lag_renders: int = 20, sizes: tuple[int, int] = (1000, 100_000),
    warm: bool = True,
) -> ChartFigures:
    """Both renderers at `sizes` (1k and 100k) points per series, then the loop's lag while
    `lag_renders` charts render, and the parse of Prometheus answers of 1k and 11k points per
    series (the most Prometheus returns). A test asks for tiny sizes and no untimed warm-up
    renders (`warm=False`), to prove it runs."""
    return asyncio.run(_compare(renders, lag_renders, sizes, warm))


def format_charts(f: ChartFigures) -> str:
    """The figures, with the ratios against the targets."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "inf"

    return "\n".join([
        f"chart, 4 series, {WIDTH}x{HEIGHT}, threshold + shaded window; median of {f.renders}"
        f" renders at {_k(f.small)}, {max(f.renders // 2, 1)} at {_k(f.big)}, the ways taken"
        " in turns:",
        " " * 34 + f"{_k(f.small) + ' points':>11} {_k(f.big) + ' points':>13}",
        f"  ours: ChartPool (the bot's path) {f.ours_1k_ms:8.1f} ms  {f.ours_100k_ms:8.1f} ms",
        f"  ours: render_chart in process    {f.draw_1k_ms:8.1f} ms  {f.draw_100k_ms:8.1f} ms",
        f"  baseline: pyplot + tight_layout  {f.base_1k_ms:8.1f} ms  {f.base_100k_ms:8.1f} ms",
        f"  ours {_k(f.small)} / baseline {_k(f.small)}    {ratio(f.ours_1k_ms, f.base_1k_ms):>7}"
        f"  (target <= {TARGET_1K}x)",
        f"  ours {_k(f.big)} / ours {_k(f.small)}      {ratio(f.ours_100k_ms, f.ours_1k_ms):>7}"
        f"  (target <= {TARGET_100K}x; the worker's part:"
        f" {ratio(f.draw_100k_ms, f.draw_1k_ms)})",
        f"parse of a Prometheus range answer, 4 series: {f.parse_1k_ms:.1f} ms at"
        f" {_k(f.small)} points, {f.parse_11k_ms:.1f} ms at {_k(min(f.big, 11_000))}"
        " (Prometheus's most per series)",
        f"event loop's lag (10 ms ticker) while charts of {_k(f.small)} points render:",
        f"  ours: ChartPool             p99 {f.ours_lag_p99_ms:7.1f} ms"
        f"   max {f.ours_lag_max_ms:7.1f} ms"
        f"  (target p99 <= {TARGET_LAG_MS:g} ms)",
        f"  baseline: on the loop       p99 {f.base_lag_p99_ms:7.1f} ms"
        f"   max {f.base_lag_max_ms:7.1f} ms",
        "targets met" if f.met() else "TARGETS MISSED",
    ])  # fmt: skip


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


if __name__ == "__main__":
    print(format_charts(compare_charts()))
