"""The benchmark's code runs end to end with a handful of scrapes, so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.exporter import compare, format_table
from bench.exposition import compare_renderers, format_renderers

pytestmark = pytest.mark.integration


def test_bench_measures_both_exporters_and_prints_ratios(tmp_path: Path) -> None:
    """Five scrapes each: figures are positive, the table carries the three ratios and both
    series counts (so like is compared with like)."""
    result = compare(scrapes=5, workdir=tmp_path)
    for m in (result.baseline, result.ours):
        assert m.scrapes == 5 and m.p50_ms > 0 and m.p99_ms >= m.p50_ms and m.rss_mb > 5
        assert m.body_bytes > 1000 and m.series > 300
    table = format_table(result)
    assert f"{result.baseline.series:>15}{result.ours.series:>18}" in table
    for label in ("CPU ms per scrape", "p99 latency ms", "resident memory MB"):
        assert label in table
    assert table.count("x ") >= 3


def test_bench_can_scrape_both_exporters_in_turns(tmp_path: Path) -> None:
    """--interleave: both get their scrapes over the same stretch of time, and the table says
    how they were taken."""
    result = compare(scrapes=4, workdir=tmp_path, interleave=True)
    for m in (result.baseline, result.ours):
        assert m.scrapes == 4 and m.p99_ms >= m.p50_ms > 0 and m.series > 300
    assert "in turns" in format_table(result)


def test_bench_compares_the_served_writer_with_prometheus_clients() -> None:
    """Three renders each: every step is timed and the summary names both writers."""
    rows = compare_renderers(renders=3)
    assert rows[0].label.startswith("collection")
    assert all(r.cpu_ms >= 0 for r in rows) and len(rows) == 5
    text = format_renderers(rows)
    assert "fast renderer" in text and "generate_latest" in text
