"""The /chart end-to-end benchmark runs at a tiny size (two requests), so it cannot rot."""

from __future__ import annotations

import pytest

from bench.chart_e2e import chart_e2e, format_e2e

pytestmark = pytest.mark.integration


def test_chart_e2e_bench_times_chart_through_the_bot_and_a_real_prometheus() -> None:
    """Two /chart requests through simcord, the bot and a real Prometheus scraping the real
    exporter: each answered with its image (else the bench raises), each split into query and
    render, and the summary carries p50, p95 and the target."""
    f = chart_e2e(requests=2)
    assert len(f.ms) == 2 and f.charts == ("cpu 15m", "cpu 1h")
    assert len(f.data_ms) == 2 and len(f.render_ms) == 2
    for total, data, render in zip(f.ms, f.data_ms, f.render_ms, strict=True):
        assert 0 < data + render < total
    text = format_e2e(f)
    assert "p50" in text and "p95" in text and "target p95 < 1000 ms" in text
