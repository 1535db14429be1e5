"""The alert graph renders a readable PNG, and only ever in the chart pool's worker processes."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.adapters.charts import (
    HEIGHT_PX,
    MUTED,
    NO_DATA,
    PALETTE,
    THRESHOLD,
    WIDTH_PX,
    ChartPool,
    drawn_figure,
    plot_data,
    render_alert_graph,
    render_chart,
    series_label,
    time_ticks,
    y_formatter,
)
from bot.domain.charts import AlertGraph, Chart, Series

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


def test_workers_end_when_the_bot_is_killed() -> None:
    """SIGKILL of the process that owns the pool (no shutdown runs) still ends its workers."""
    code = textwrap.dedent(
        """
        import asyncio, os, sys, time
        from bot.adapters.charts import ChartPool

        async def main():
            pool = ChartPool()
            await pool.start()
            print(next(iter(pool._pool._processes)), flush=True)
            time.sleep(60)

        if __name__ == "__main__":
            asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert owner.stdout is not None
        worker = int(owner.stdout.readline())
        os.kill(worker, 0)  # alive while its owner is
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        status = Path(f"/proc/{worker}/status").read_text(errors="replace")
        if "State:\tZ" in status:
            break  # exited, waiting for init to reap it
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{worker}").exists(), "the chart worker outlived its bot"


# -- charts (render_chart): the one drawing path, at 1200x600 ------------------------------------


def _chart(**kw: Any) -> Chart:
    """An hour-long 1200x600 chart of one series around 0.2, with overrides."""
    return replace(Chart("CPU busy nas", (_series(0.2),), START, END, unit="ratio"), **kw)


def _axes_px(chart: Chart) -> tuple[float, float, float, float]:
    """The plot area in pixels, from the top-left: (left, top, right, bottom)."""
    ax = drawn_figure(chart).axes[0]
    x0, y0, x1, y1 = ax.get_position().extents
    return x0 * chart.width, (1 - y1) * chart.height, x1 * chart.width, (1 - y0) * chart.height


def _colour_mask(pixels: np.ndarray, colour: str, tol: int = 30) -> np.ndarray:
    """Where the image has `colour` (within `tol` per channel)."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return (np.abs(pixels - rgb) <= tol).all(axis=2)


def test_chart_is_1200x600_by_default() -> None:
    """A chart renders at 1200x600 unless it asks for another size."""
    png = render_chart(_chart())
    assert Image.open(io.BytesIO(png)).size == (1200, 600)
    small = render_chart(_chart(width=800, height=400))
    assert Image.open(io.BytesIO(small)).size == (800, 400)


def test_every_threshold_is_drawn() -> None:
    """Two thresholds give two long red rows, at their values' heights."""
    rising = Series({"instance": "a"}, tuple((START + 60 * i, i / 60) for i in range(61)))
    chart = _chart(series=(rising,), thresholds=(0.25, 0.75), minimum=0.0, maximum=1.0)
    left, top, right, bottom = _axes_px(chart)
    rows = _red_rows(_pixels(render_chart(chart)))
    long_rows = [r for r, n in rows.items() if n > 0.5 * (right - left)]
    for value in (0.25, 0.75):
        expected = top + (1 - value) * (bottom - top)
        assert any(abs(r - expected) < 3 for r in long_rows), (value, expected, long_rows)


def test_every_window_is_shaded() -> None:
    """Two shaded windows change only their own columns, none between them."""
    windows = ((START + 600, START + 1200), (START + 2400, START + 3000))
    chart = _chart(windows=windows)
    left, _top, right, _bottom = _axes_px(chart)
    plain, shaded = _pixels(render_chart(_chart())), _pixels(render_chart(chart))
    cols = set(np.nonzero((plain != shaded).any(axis=(0, 2)))[0].tolist())
    per_s = (right - left) / 3600
    for since, until in windows:
        x0, x1 = left + (since - START) * per_s, left + (until - START) * per_s
        inside = {c for c in cols if x0 - 2 <= c <= x1 + 2}
        assert len(inside) > 0.9 * (x1 - x0)
    between = left + 1500 * per_s, left + 2100 * per_s
    assert not [c for c in cols if between[0] <= c <= between[1]]


def test_a_missing_stretch_is_a_gap_not_a_line() -> None:
    """No point for 20 minutes: no series colour in those columns; one missing point is bridged."""
    points = tuple((START + 60 * i, 0.5) for i in range(61) if not 20 <= i <= 40)
    chart = _chart(series=(Series({"instance": "a"}, points),), step=60.0)
    left, _top, right, _bottom = _axes_px(chart)
    line = _colour_mask(_pixels(render_chart(chart)), PALETTE[0]).any(axis=0)
    per_s = (right - left) / 3600
    hole = range(round(left + 21 * 60 * per_s), round(left + 39 * 60 * per_s))
    assert not line[hole].any()
    assert line[round(left + 10 * 60 * per_s)] and line[round(left + 50 * 60 * per_s)]
    one_missing = tuple(p for i, p in enumerate(_series(0.5).points) if i != 30)
    xs, _ys = plot_data(np.array(one_missing), 60.0, 1000)
    assert not np.isnan(xs).any()  # a step of two is not a gap


def test_a_single_spike_in_100k_points_survives_downsampling() -> None:
    """MinMaxLTTB keeps a one-point spike: it is still the max of what is drawn."""
    n = 100_000
    rng = np.random.default_rng(7)
    xs = START + np.arange(n) * (3600 / n)
    ys = 0.3 + 0.01 * rng.standard_normal(n)
    ys[61_234] = 5.0
    drawn_x, drawn_y = plot_data(np.column_stack([xs, ys]), 0.0, 900)
    assert len(drawn_y) <= 1000
    assert np.nanmax(drawn_y) == 5.0
    assert drawn_x[np.nanargmax(drawn_y)] == xs[61_234]


def test_no_data_image_says_so() -> None:
    """No series (or only NaN) gives the 'no data' text in the middle, and no y tick labels."""
    for series in ((), (Series({"instance": "b"}, ((START, float("nan")),)),)):
        fig = drawn_figure(_chart(series=series))
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert NO_DATA in texts
        assert all(not t.get_text() for t in fig.axes[0].get_yticklabels())
        pixels = _pixels(render_chart(_chart(series=series)))
        middle = pixels[250:350, 450:750]
        assert _colour_mask(middle, MUTED, 20).sum() > 200  # the text is there
        assert not any(_colour_mask(pixels, c, 10).sum() > 50 for c in PALETTE[:3])


@pytest.mark.parametrize(
    ("unit", "top", "suffix"),
    [
        ("bytes", 3 * 1024**3, " GiB"),
        ("bits_per_second", 250e6, " Mb/s"),
        ("bytes_per_second", 40e3, " kB/s"),
        ("ratio", 0.9, "%"),
        ("celsius", 70, " °C"),
        ("seconds", 0.4, " ms"),
    ],
)
def test_units_are_on_the_rendered_tick_labels(unit: str, top: float, suffix: str) -> None:
    """The y axis' tick labels, as drawn, carry the unit: IEC bytes, SI rates, %, °C, ms."""
    series = Series({"instance": "a"}, tuple((START + 60 * i, top * i / 60) for i in range(61)))
    fig = drawn_figure(_chart(series=(series,), unit=unit))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text() != "0 s"]
    labels = [label for label in labels if label]
    assert len(labels) >= 3 and all(label.endswith(suffix) for label in labels), labels


def test_legend_sits_outside_the_data_and_counts_the_rest() -> None:
    """Fourteen series: ten in a legend right of the plot, then 'and 4 more'."""
    many = tuple(_series(0.05 * i, {"instance": f"h{i}:9101"}) for i in range(14))
    fig = drawn_figure(_chart(series=many))
    ax = fig.axes[0]
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) == 11 and texts[-1] == "and 4 more"
    renderer = fig.canvas.get_renderer()
    box, plot = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.x0 >= plot.x1 and box.x1 <= fig.bbox.width  # beside the plot, inside the image
    assert len(ax.lines) == 10
    # the ten highest are the ones drawn
    assert {t for t in texts[:-1]} == {f"h{i}:9101" for i in range(4, 14)}


def test_stacked_areas_reach_the_sum() -> None:
    """Stacked: the top of the stack is the sum of the series; the floor stays at zero."""
    a = Series({"device": "eth0"}, tuple((START + 60 * i, 1e6) for i in range(61)), name="eth0")
    b = Series({"device": "eth1"}, tuple((START + 60 * i, 2e6) for i in range(61)), name="eth1")
    fig = drawn_figure(_chart(series=(a, b), unit="bits_per_second", stacked=True))
    lo, hi = fig.axes[0].get_ylim()
    assert lo == 0.0 and 3e6 < hi < 3.5e6
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["eth0", "eth1"]


def test_floor_and_ceiling_come_from_the_chart() -> None:
    """minimum/maximum fix the y axis (0..100 %), unless the data go beyond them."""
    ax = drawn_figure(_chart(minimum=0.0, maximum=1.0)).axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    high = Series({"instance": "a"}, ((START, 0.5), (END, 1.4)))
    assert drawn_figure(_chart(series=(high,), maximum=1.0)).axes[0].get_ylim()[1] > 1.4


def test_renders_are_byte_stable() -> None:
    """The same chart renders to the same bytes (the docs' images depend on it)."""
    chart = _chart(thresholds=(0.5,), windows=((START, START + 600),))
    assert render_chart(chart) == render_chart(chart)


async def test_event_loop_keeps_ticking_while_20_charts_render() -> None:
    """A 10 ms ticker counts at least 80 % of its ticks while the pool renders 20 charts."""
    pool = ChartPool()
    await pool.start()
    chart = _chart(series=tuple(_series(0.1 * k, {"instance": f"h{k}"}) for k in range(4)),
                   thresholds=(0.3,), windows=((END - 900, END),))
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    try:
        task = asyncio.create_task(ticker())
        started = asyncio.get_running_loop().time()
        pngs = [await pool.chart(chart) for _ in range(20)]
        elapsed = asyncio.get_running_loop().time() - started
        done.set()
        await task
    finally:
        await pool.close()
    assert pngs[0] == render_chart(chart)  # the packed trip draws the same image
    expected = elapsed / 0.01
    # asyncio.sleep(0.01) wakes a little late even on an idle loop: ~1.1 ms per tick
    assert ticks >= 0.8 * expected / 1.15, (ticks, expected)


async def test_long_series_travel_through_shared_memory_and_leave_none_behind() -> None:
    """A chart of 2 x 50k points renders through the pool as in process; /dev/shm is as before."""
    n = 50_000
    series = tuple(
        Series({"instance": f"h{k}"}, tuple((START + i * 3600 / n, (i % 997) / 997 + k)
                                            for i in range(n)))
        for k in range(2)
    )
    chart = _chart(series=series, unit="")
    before = _blocks()
    pool = ChartPool()
    await pool.start()
    try:
        png = await pool.chart(chart)
    finally:
        await pool.close()
    assert png == render_chart(chart)
    assert _blocks() - before == set()


def _blocks() -> set[str]:
    """The shared memory blocks in /dev/shm (multiprocessing.shared_memory names them psm_*;
    other processes' semaphores there are not ours to count)."""
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")}


def test_threshold_label_goes_where_it_hides_no_data() -> None:
    """A series just above the threshold puts its label below the line; just below, above it."""
    def label_side(level: float) -> str:
        flat = Series({"instance": "a"}, tuple((START + 60 * i, level) for i in range(61)))
        fig = drawn_figure(_chart(series=(flat,), thresholds=(0.5,), minimum=0.0, maximum=1.0))
        (label,) = [t for t in fig.axes[0].texts if t.get_text().startswith("threshold")]
        return str(label.get_verticalalignment())

    assert label_side(0.52) == "top"  # text hangs below the line
    assert label_side(0.48) == "bottom"  # text sits above the line


def test_the_parent_watch_is_not_started_in_the_pool_owner() -> None:
    """The worker initializer called in a process without a parent starts no watch thread."""
    import threading

    from bot.adapters.charts import _end_with_parent

    before = {t.name for t in threading.enumerate()}
    _end_with_parent()
    assert "parent-watch" not in {t.name for t in threading.enumerate()} - before


def test_a_kept_axes_draws_what_a_new_one_draws() -> None:
    """Each worker keeps its figures and their axes from chart to chart: every gallery chart
    and grid, drawn after the others on kept axes, is the same PNG as drawn on new ones (no
    line, legend, locator or hidden tick left over from the chart before)."""
    from bot.adapters import charts
    from bot.domain.charts import ChartGrid
    from bot.tools.chart_gallery import example_charts
    from bot.tools.dashboard_gallery import example_drawings

    singles = example_charts()
    # Stacked, a gap, a legend of many, bytes, no data; the alerts bars and two 2x2 grids.
    kinds = ("cpu.png", "memory.png", "network.png", "disk.png", "no-data.png")
    drawings: list[tuple[str, Chart | ChartGrid]] = [
        *((n, singles[n]) for n in kinds), *example_drawings().items()]  # fmt: skip
    # Percent and °C as panels beside the no-data one, at the same places, one after another.
    drawings += [(f"{name} grid", ChartGrid((singles[name], singles["no-data.png"],
                                             singles[name], singles[name]), columns=2,
                                            width=1200, height=800))
                 for name in ("memory.png", "temperature.png")]  # fmt: skip

    def draw(d: Chart | ChartGrid) -> bytes:
        return charts.render_grid(d) if isinstance(d, ChartGrid) else render_chart(d)

    new: dict[str, bytes] = {}
    for name, d in drawings:
        charts._FIGURES.clear()
        new[name] = draw(d)
    charts._FIGURES.clear()
    kept = {name: draw(d) for name, d in drawings}
    assert len(charts._AXES[(1200, 800)]) > 1  # axes were kept
    assert [n for n in new if kept[n] != new[n]] == []
