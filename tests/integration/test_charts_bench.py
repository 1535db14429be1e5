"""The chart benchmark runs end to end with a couple of renders, so it cannot rot."""

from __future__ import annotations

import io

from PIL import Image

from bench.charts import compare_charts, format_charts, pyplot_baseline, sample_graph


def test_chart_bench_times_both_renderers_and_both_ways_to_run() -> None:
    """Two renders each: every figure is positive and the summary carries both ratios."""
    figures = compare_charts(renders=2)
    assert figures.ours_ms > 0 and figures.pyplot_ms > 0 and figures.pool_ms > 0
    assert figures.thread_lag_ms >= 0 and figures.pool_lag_ms >= 0
    text = format_charts(figures)
    assert "faster" in text and "smaller" in text


def test_baseline_draws_the_same_size() -> None:
    """The pyplot baseline renders the same 1000x450 chart, so the comparison is fair."""
    png = pyplot_baseline(sample_graph(series=2, points=10))
    assert Image.open(io.BytesIO(png)).size == (1000, 450)
