"""The composition root's own work: reporting the audit head outside the database, and wiring
the chart data from the settings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.domain.audit import AuditRecord
from bot.interfaces.runtime import Runtime
from bot.settings import ChartsSettings, InfluxDBSettings
from tests.bot.conftest import make_settings


async def test_the_audit_head_is_logged_and_exported(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """The head's row and hash go to the log, its row to homelab_bot_audit_head_row."""
    with caplog.at_level(logging.INFO, logger="bot.interfaces.runtime"):
        await runtime.report_audit_head_once()
        assert runtime.registry.get_sample_value("homelab_bot_audit_head_row") == 0
        for i in range(3):
            await runtime.core.gate.audit.append(AuditRecord("ann", "sync", "", "ok", float(i)))
        task = asyncio.create_task(runtime.report_audit_head())  # what `run` starts
        try:
            for _ in range(100):
                if runtime.registry.get_sample_value("homelab_bot_audit_head_row") == 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
    head = await runtime.core.gate.audit.head()
    assert head is not None and head.seq == 3
    assert runtime.registry.get_sample_value("homelab_bot_audit_head_row") == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.interfaces.runtime"]
    assert messages[0] == "audit head: row 0, hash none (empty log)"
    assert f"audit head: row 3, hash {head.hash}" in messages


async def test_chart_data_is_wired_from_the_settings(tmp_path: Path) -> None:
    """[bot.prometheus] retention and scrape interval, [bot.charts] width and cache size reach
    ChartData; [bot.influxdb] gives it an InfluxDB source only when enabled."""
    base = make_settings(tmp_path)
    off = await Runtime.build(base)
    try:
        assert off.chart_data is not None and off.chart_data.influx is None and off.influx is None
        assert off.chart_data.retention_seconds == 15 * 86400
    finally:
        await off.close()
    on_settings = base.model_copy(
        update={
            "influxdb": InfluxDBSettings(enabled=True, url="http://127.0.0.1:1", database="lab"),
            "prometheus": base.prometheus.model_copy(
                update={"retention_seconds": 3600.0, "scrape_interval_seconds": 30.0}
            ),
            "charts": ChartsSettings(plot_width_px=600, cache_entries=8),
        }
    )
    on = await Runtime.build(on_settings)
    try:
        data = on.chart_data
        assert data is not None and data.influx is on.influx and on.influx is not None
        assert on.influx.source == "InfluxDB at http://127.0.0.1:1 (database lab)"
        assert (data.retention_seconds, data.scrape_interval, data.width_px) == (3600, 30, 600)
        assert data.cache.max_entries == 8
    finally:
        await on.close()


async def test_scheduled_reports_run_on_the_one_scheduler(tmp_path: Path) -> None:
    """[bot.reports] enabled: the daily job and the start-up catch-up are on Runtime.scheduler;
    started, the catch-up claims the period that came due a minute ago (Prometheus is down
    here, so its send fails and is recorded, not retried); close stops the scheduler."""
    from datetime import UTC, datetime, timedelta

    from bot.adapters.reports import SqliteReportStore
    from bot.domain.messages import Message

    class Channel:
        async def post(self, msg: Message, nonce: str) -> list[int]:
            raise AssertionError("nothing can be built with Prometheus down")

    due = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%H:%M")
    rt = await Runtime.build(
        make_settings(tmp_path, reports={"enabled": True, "daily_at": due, "weekly_at": ""})
    )
    try:
        assert rt.scheduler is not None and not rt.scheduler.running
        assert rt.schedule_reports(Channel()) is not None
        assert {j.id for j in rt.scheduler.get_jobs()} == {"report-daily", "report-catch-up"}
        rt.scheduler.start()
        store = SqliteReportStore(rt.db)
        for _ in range(400):
            runs = await store.runs()
            if runs and runs[0][2]:
                break
            await asyncio.sleep(0.05)
        ((key, sent, error),) = await store.runs()
        assert key.startswith("daily:") and sent is None and "connection refused" in error
    finally:
        await rt.close()
    assert not rt.scheduler.running
