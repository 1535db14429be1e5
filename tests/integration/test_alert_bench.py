"""The two alert-delivery benchmarks run end to end, scaled down, so they cannot rot.

Only their invariants are asserted (every notification answered 200, nothing lost or
duplicated, no 4xx), never the timing targets: this machine is shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main as bench_main
from bench.alerts_burst import compare as compare_burst
from bench.alerts_burst import format_table as format_burst
from bench.webhook import compare as compare_webhook
from bench.webhook import format_table as format_webhook

pytestmark = pytest.mark.integration


def test_webhook_bench_answers_every_request_200_on_both_servers(tmp_path: Path) -> None:
    """2 s at 50 requests/s: all 100 requests of each server answered 200, p99 >= p50 > 0."""
    result = compare_webhook(rate=50, seconds=2, workdir=tmp_path)
    for m in (result.noop, result.receiver):
        assert m.requests == 100 and m.ok == 100
        assert 0 < m.p50_ms <= m.p99_ms
    table = format_webhook(result)
    assert "receiver p99" in table and "the no-op" in table


def test_burst_bench_delivers_every_alert_once_without_4xx(tmp_path: Path) -> None:
    """100 alerts in 10 notifications: every one shown exactly once, no 4xx, packed requests."""
    result = compare_burst(alerts=100, limit=5, per=0.5, workdir=tmp_path)
    assert result.webhook_statuses == {200: 10}
    for way in (result.bot, result.baseline):
        assert way.lost == 0 and way.duplicates == 0 and way.rejected_4xx == 0
        assert way.drain_seconds > 0
    assert result.baseline.requests == 100
    assert result.bot.requests < result.baseline.requests  # packed, not one per alert
    table = format_burst(result)
    assert "requests per alert" in table and "drain seconds" in table


def test_bench_flags_choose_the_parts(capsys: pytest.CaptureFixture[str]) -> None:
    """--only and --skip pick benchmarks by name; an unknown name is refused with the list."""
    assert bench_main(["--only", "webhook,burst", "--skip", "webhook,burst"]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit):
        bench_main(["--only", "nope"])
    names = ("exporter, web, exposition, charts, chart_e2e, dashboards, live_dashboards, webhook, "
             "burst")
    assert f"choose from {names}" in capsys.readouterr().err
