"""The alert graph renders a readable PNG, and only ever in the chart pool's worker processes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.adapters.charts import (
    HEIGHT_PX,
    PALETTE,
    THRESHOLD,
    WIDTH_PX,
    ChartPool,
    render_alert_graph,
    series_label,
    time_ticks,
    y_formatter,
)
from bot.domain.charts import AlertGraph, Series

ROOT = Path(__file__).resolve().parents[3]
END = 1796302800.0  # 2026-12-03 13:00 UTC
START = END - 3600
# Where the single-series plot area is, from the fixed layout (left 0.085, right 0.975).
LEFT_PX, RIGHT_PX = round(0.085 * WIDTH_PX), round(0.975 * WIDTH_PX)


def _series(level: float, labels: dict[str, str] | None = None) -> Series:
    """A gently rising series over the hour, one point a minute."""
    points = tuple((START + 60 * i, level + 0.001 * i) for i in range(61))
    return Series(labels or {"instance": "nas:9101"}, points)


def _graph(**kw: Any) -> AlertGraph:
    """An hour-long alert graph of one series around 0.2, with overrides."""
    return replace(AlertGraph("HostHighCpu nas:9101", (_series(0.2),), START, END), **kw)


def _pixels(png: bytes) -> np.ndarray:
    """The PNG's RGB pixels as an array of rows."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _red_rows(pixels: np.ndarray) -> dict[int, int]:
    """Rows with the threshold's red, and how many red pixels each has."""
    red = np.array([int(THRESHOLD[i : i + 2], 16) for i in (1, 3, 5)])
    close = (np.abs(pixels - red) <= 40).all(axis=2)
    return {int(r): int(n) for r, n in enumerate(close.sum(axis=1)) if n}


def _die() -> None:
    """End the worker process abruptly, as the kernel's OOM killer would."""
    os._exit(3)


def _pid() -> int:
    """The process this runs in (module level, so a spawned worker can import it)."""
    return os.getpid()


def test_png_decodes_at_the_expected_size() -> None:
    """The renderer returns a PNG of 1000x450 pixels."""
    png = render_alert_graph(_graph(threshold=0.9, firing_since=END - 600, unit="ratio"))
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX) == (1000, 450)


def test_threshold_is_a_red_line_along_its_row() -> None:
    """The threshold draws a dashed red line across the plot, on the row of its value."""
    rising = Series({"instance": "a"}, tuple((START + 60 * i, 0.1 + i / 75) for i in range(61)))
    without = _red_rows(_pixels(render_alert_graph(_graph(series=(rising,)))))
    assert max(without.values(), default=0) < 20  # no series colour is the threshold's red
    # y spans 0.1..0.9 padded by 8 %; the axes run from 11 % to 88 % of the height, from the top
    top, bottom, hi, lo = 0.11 * HEIGHT_PX, 0.88 * HEIGHT_PX, 0.9 + 0.064, 0.1 - 0.064
    for threshold in (0.9, 0.5, 0.2):
        png = render_alert_graph(_graph(series=(rising,), threshold=threshold))
        rows = _red_rows(_pixels(png))
        row, count = max(rows.items(), key=lambda rc: rc[1])
        assert count > 0.5 * (RIGHT_PX - LEFT_PX), rows  # dashes: 6 on, 4 off
        expected = top + (hi - threshold) / (hi - lo) * (bottom - top)
        assert abs(row - expected) < 2, (threshold, row, expected)


def test_firing_window_shades_only_its_columns() -> None:
    """Shading [firing_since, firing_until] changes pixels only in those columns."""
    since, until = START + 1200, START + 2400
    plain = _pixels(render_alert_graph(_graph()))
    shaded = _pixels(render_alert_graph(_graph(firing_since=since, firing_until=until)))
    cols = np.nonzero((plain != shaded).any(axis=(0, 2)))[0]
    per_s = (RIGHT_PX - LEFT_PX) / 3600
    x0, x1 = LEFT_PX + 1200 * per_s, LEFT_PX + 2400 * per_s
    assert cols.min() >= x0 - 2 and cols.max() <= x1 + 2, (cols.min(), cols.max(), x0, x1)
    assert len(cols) > 0.9 * (x1 - x0)


def test_firing_window_still_open_is_shaded_to_the_end() -> None:
    """An alert still firing (firing_until None) is shaded up to the right edge of the plot."""
    plain = _pixels(render_alert_graph(_graph()))
    shaded = _pixels(render_alert_graph(_graph(firing_since=END - 900)))
    cols = np.nonzero((plain != shaded).any(axis=(0, 2)))[0]
    assert cols.min() >= LEFT_PX + 2700 * (RIGHT_PX - LEFT_PX) / 3600 - 2
    assert cols.max() >= RIGHT_PX - 2


def test_legend_only_for_more_than_one_series() -> None:
    """One series leaves the right margin empty; two or more get a legend there."""
    one = _pixels(render_alert_graph(_graph()))
    many = tuple(_series(0.1 * i, {"instance": f"h{i}:9101"}) for i in range(12))
    legend = _pixels(render_alert_graph(_graph(series=many)))
    margin = (slice(40, 400), slice(RIGHT_PX + 5, WIDTH_PX))
    assert (one[margin] == one[margin][0, 0]).all()  # background only
    assert not (legend[(slice(40, 400), slice(820, WIDTH_PX))] == legend[0, 0]).all()


def test_no_data_renders() -> None:
    """No series, series without points, or only NaN render a chart instead of failing."""
    nan = Series({"instance": "b"}, ((START, float("nan")), (END, float("inf"))))
    for series in ((), (Series({"instance": "a"}, ()),), (nan,)):
        png = render_alert_graph(_graph(series=series, threshold=0.9, unit="ratio"))
        assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX)


@pytest.mark.parametrize(
    ("unit", "value", "text"),
    [
        ("ratio", 0.93, "93%"),
        ("ratio", 0.005, "0.5%"),
        ("seconds", 0.25, "250 ms"),
        ("seconds", 90, "90 s"),
        ("seconds", 5400, "90 min"),
        ("bytes", 1.5 * 1024**3, "1.5 GiB"),
        ("bytes", 512, "512 B"),
        ("celsius", 70, "70 °C"),
        ("", 3, "3"),
        ("requests", 12345, "1.234e+04"),
    ],
)
def test_y_axis_text_follows_the_unit(unit: str, value: float, text: str) -> None:
    """Tick and threshold text: ratio as percent, seconds scaled, IEC bytes, °C, else plain."""
    assert y_formatter(unit)(value) == text


def test_series_are_named_by_instance_then_host() -> None:
    """The legend names a series by instance, else host, else its other labels."""
    assert series_label(Series({"instance": "nas:9101", "host": "nas"}, ())) == "nas:9101"
    assert series_label(Series({"host": "nas", "job": "node"}, ())) == "nas"
    assert series_label(Series({"__name__": "up", "job": "node"}, ())) == "job=node"


def test_time_ticks_fall_on_round_utc_times() -> None:
    """An hour gets ticks every 10 minutes on the clock; a day every 3 hours."""
    assert time_ticks(START + 30, END) == [START + 600 * i for i in range(1, 7)]
    assert all(t % 10800 == 0 for t in time_ticks(END - 86400, END))


async def test_pool_renders_in_another_process() -> None:
    """ChartPool runs the render in a worker process, never in the caller's."""
    pool = ChartPool(max_workers=1)
    await pool.start()
    try:
        assert await pool.submit(_pid) != os.getpid()
        png = await pool.alert_graph(_graph(threshold=0.9, firing_since=END - 600))
        assert png == render_alert_graph(_graph(threshold=0.9, firing_since=END - 600))
    finally:
        await pool.close()


async def test_a_dead_worker_is_replaced() -> None:
    """After a worker dies mid-job the failure is raised, and the next chart still renders."""
    pool = ChartPool()
    try:
        with pytest.raises(BrokenProcessPool):
            await pool.submit(_die)  # it dies again on the one retry
        png = await pool.alert_graph(_graph())
        assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX)
    finally:
        await pool.close()


def test_a_single_point_is_visible() -> None:
    """A series of one point (a line of length zero) still shows, as a marker."""
    colour = np.array([int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)])
    png = render_alert_graph(_graph(series=(Series({"instance": "a"}, ((END - 1800, 0.5),)),)))
    assert (np.abs(_pixels(png) - colour) <= 30).all(axis=2).sum() > 5


def test_the_bot_process_never_loads_matplotlib() -> None:
    """Rendering through the pool leaves matplotlib unimported in the calling process."""
    code = textwrap.dedent(
        """
        import asyncio, sys
        from bot.adapters.charts import ChartPool
        from bot.domain.charts import AlertGraph

        async def main():
            pool = ChartPool()
            await pool.start()
            png = await pool.alert_graph(AlertGraph("t", (), 0.0, 60.0))
            await pool.close()
            assert png.startswith(b"\\x89PNG")

        if __name__ == "__main__":
            asyncio.run(main())
            print(sorted(m for m in sys.modules if m.startswith("matplotlib")))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )
    assert out.stdout.strip() == "[]", out.stderr
