"""The chart benchmark runs end to end at a tiny size, so it cannot rot."""

from __future__ import annotations

import io

from PIL import Image

from bench.charts import compare_charts, format_charts, pyplot_baseline, sample_chart


def test_chart_bench_times_both_renderers_at_both_sizes_and_the_loop() -> None:
    """One render of each way at 100 and 3,000 points per series (past BIG_SERIES in all: the shared
    memory path): every figure is positive and the summary carries the three targets."""
    f = compare_charts(renders=1, lag_renders=1, sizes=(100, 3000), warm=False)
    for ms in (f.ours_1k_ms, f.ours_100k_ms, f.base_1k_ms, f.base_100k_ms, f.draw_1k_ms,
               f.draw_100k_ms, f.parse_1k_ms, f.parse_11k_ms):
        assert ms > 0
    assert f.ours_lag_p99_ms >= 0 and f.base_lag_p99_ms >= 0
    text = format_charts(f)
    assert "ours 100 / baseline 100" in text and "ours 3k / ours 100" in text and "p99" in text


def test_baseline_draws_the_same_size() -> None:
    """The pyplot baseline renders the same 1200x600 chart, so the comparison is fair."""
    png = pyplot_baseline(sample_chart(series=2, points=10))
    assert Image.open(io.BytesIO(png)).size == (1200, 600)
