"""The dashboard grid benchmark runs and reports both ways (its figures go in the docs)."""

from __future__ import annotations

from bench.dashboards import compare_grid, format_grid


def test_the_grid_benchmark_times_both_ways() -> None:
    """Two renders each way: both measured, the ratio printed against the target."""
    figures = compare_grid(renders=2)
    assert figures.ours_ms > 0 and figures.baseline_ms > 0
    text = format_grid(figures)
    assert "ours / baseline" in text and "target <= 0.5x" in text
