"""Reports against one real stack (module-scoped): the real exporter on a host overlay,
feeding a real Prometheus and a real InfluxDB 1.x. The report's numbers come from them, the
alert history from the bot's SQLite, the long range from InfluxDB; the HTML file is opened in
headless Chromium (DevTools protocol: no requests, no console errors, a screenshot); /report
in simcord and `report daily|weekly` on the console write the charts and the HTML file."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import simcord

from bot.adapters.outbox import SqliteOutbox
from bot.domain.alerts.model import alert_to_json, parse_alert
from bot.domain.messages import validate
from bot.domain.reports.model import period_ending
from bot.interfaces.console.face import Console
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime
from bot.services.core import CONSOLE_ACTOR
from bot.services.ports import OutboxEvent, OutboxRow
from bot.services.reports import ReportService
from bot.tools.browser import Browser, chromium_binary
from tests.bot.conftest import make_settings
from tests.conftest import FixtureGroup
from tests.deploy.stack import host_overlay
from tests.harness.exporter import Exporter
from tests.harness.services import InfluxDB, Prometheus, static_job, wait_until

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n"


class Stack:
    """The module's services."""

    def __init__(self, prom: Prometheus, influx: InfluxDB) -> None:
        self.prom = prom
        self.influx = influx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Exporter (host "nas", InfluxDB writes every 0.5 s) -> Prometheus (1 s scrapes)."""
    base = tmp_path_factory.mktemp("reports")
    group = FixtureGroup(base / "services")
    try:
        influx: InfluxDB = group(InfluxDB)
        procfs, sysfs = host_overlay(base / "host")
        exporter = group(Exporter, hostname="nas", procfs_path=str(procfs),
                         sysfs_path=str(sysfs),
                         influx={"enabled": True, "url": influx.url, "database": "telegraf",
                                 "interval_seconds": 0.5})  # fmt: skip
        prom: Prometheus = group(
            Prometheus, scrape_configs=[static_job("homelab-exporter", exporter.address)]
        )
        prom.wait_for("count_over_time(node_load1[1m]) >= 15", lambda r: len(r) == 1)
        prom.wait_for('rate(node_cpu_seconds_total{mode="user"}[5m])', bool)
        wait_until(lambda: {"cpu", "mem", "disk"} <= influx.measurements("telegraf"),
                   what="the exporter's points in InfluxDB")  # fmt: skip
        time.sleep(1.5)  # a few more points each
        yield Stack(prom, influx)
    finally:
        group.stop_all()


def _settings(tmp_path: Path, stack: Stack, influx: bool = False) -> Any:
    extra: dict[str, Any] = {}
    if influx:
        # Prometheus "keeps" a minute: a day's report reads InfluxDB, as past the retention.
        extra = {"influxdb": {"enabled": True, "url": stack.influx.url, "database": "telegraf"}}
    return make_settings(
        tmp_path,
        prometheus={"url": stack.prom.url, "scrape_interval_seconds": 1.0,
                    "retention_seconds": 60.0 if influx else 15 * 86400.0},
        # A day in 8000 steps of 10.8 s, so the stack's seconds of data fall on a few steps
        # (at the usual 1200 a step is 72 s: a minute-old stack might have no point at all).
        charts={"plot_width_px": 8000},
        reports={"timezone": "Europe/Berlin"},
        **extra,
    )  # fmt: skip


async def _alert_history(rt: Runtime, now: float) -> None:
    """Two episodes in the bot's alert_state, as the delivery worker stores them: a critical
    one that took 30 minutes to resolve, and a warning still firing."""

    def event(name: str, severity: str, status: str, starts: float, ends: float) -> OutboxRow:
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        alert = parse_alert({
            "status": status, "labels": {"alertname": name, "severity": severity,
                                         "instance": rt_instance},
            "annotations": {}, "startsAt": iso(starts), "endsAt": iso(ends) if ends else
            "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": f"{name:0<16}"[:16],
        })  # fmt: skip
        e = OutboxEvent(alert.dedupe_key, alert.fingerprint, status, alert.starts_at_utc,
                        alert_to_json(alert), "{}")  # fmt: skip
        return OutboxRow(0, e, now, 0)

    targets = await rt.core.feature(ReportService).hosts.targets()  # type: ignore[union-attr]
    rt_instance = targets[0][0].instance
    rows = [
        event("HostDiskFull", "critical", "resolved", now - 7200, now - 5400),
        event("HostHighCpu", "warning", "firing", now - 600, 0),
    ]
    await SqliteOutbox(rt.db).plan_message("channel:1", 1, "nonce-reports", rows, now)


async def test_daily_report_from_prometheus_the_alert_history_in_chromium_discord_console(
    tmp_path: Path, stack: Stack
) -> None:
    """Availability 100 % for nas, CPU/memory/disk p95 and max, a forecast for /, the alerts
    by severity with their MTTR; a valid message with three PNGs and the HTML file, which a
    headless Chromium shows with no request, no console error, and the report's content;
    /report daily nas in simcord attaches the charts and the HTML file; the console's
    `report daily` prints the sections and writes the PNGs and the HTML file."""
    rt = await Runtime.build(_settings(tmp_path, stack))
    try:
        service = rt.core.feature(ReportService)
        assert service is not None
        await _alert_history(rt, time.time())
        data = await service.collect(period_ending("daily", service.now()))
        (nas,) = data.hosts
        assert nas.name == "nas" and nas.availability == 1.0
        assert nas.cpu and 0 <= nas.cpu.p95 <= nas.cpu.maximum <= 1
        # The stack has seconds of data: a few 10.8 s steps of the day.
        assert nas.memory and 0 < nas.memory.p95 <= 1 and nas.disk and nas.disk.points >= 1
        assert any(d.mountpoint == "/" and d.host == "nas" for d in data.disks)
        assert data.alerts.by_severity == (("critical", 1), ("warning", 1))
        assert data.alerts.mttr_seconds == pytest.approx(1800) and data.alerts.still_firing == 1
        assert data.sources == (rt.prometheus.source,)
        msg = await asyncio.to_thread(service.message, data)
        assert validate(msg) == []
        names = [i.filename for i in msg.images]
        assert sorted(n for n in names if n.endswith(".png")) == [
            "report-daily-cpu.png", "report-daily-disk.png", "report-daily-memory.png"]
        assert all(i.data.startswith(PNG) for i in msg.images if i.filename.endswith(".png"))
        html = msg.images[-1]
        assert html.filename.startswith("report-daily-all-") and html.filename.endswith(".html")
        page_path = tmp_path / html.filename
        page_path.write_bytes(html.data)
        await _check_in_chromium(page_path, tmp_path)
        # The same report in Discord (/report) and on the console (`report daily`).
        settings = rt.settings
        await rt.charts.start()  # warmed, as `run` does at start-up
        # A report is several queries and three renders: more than simcord's default 5 s to
        # settle on a loaded machine (the bot defers first, so Discord's 3 s are kept).
        async with simcord.run(HomelabBot(settings, rt.core), settle_timeout=60.0) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("reports")
            vic = guild.add_member(env.create_user("vic"))
            result = await vic.slash(channel, "report", kind="daily", host="nas")
            message = result.response.message if result.response else channel.last_message
            files = [a.filename for a in message.attachments]
            assert any(f.endswith(".html") for f in files) and len(files) == 4, files
            assert "Daily report · nas" in (message.embeds[0].title or "")
        out = io.StringIO()
        console = Console(rt.core, tmp_path / "console", out=out)
        msg = await console.run_line("report daily")
        assert msg is not None and msg.outcome == "ok"
        text = out.getvalue()
        assert "== Daily report · all hosts ==" in text and "== Alerts ==" in text
        written = sorted(p.name for p in (tmp_path / "console").iterdir())
        assert len([p for p in written if p.endswith(".png")]) == 3, written
        (page,) = [p for p in written if p.endswith(".html")]
        assert f"[file: {tmp_path / 'console' / page}]" in text
        doc = (tmp_path / "console" / page).read_text()
        assert doc.count("data:image/png;base64,") == 3
        assert json.dumps(doc)  # plain text, no binary
    finally:
        await rt.close()


async def _check_in_chromium(page_path: Path, tmp_path: Path) -> None:
    """The page in Chromium: no network request, no console error, the sections' text, a
    screenshot of the whole page with the dark header and the three charts in it. Two control
    pages prove the checks see a request and a console error."""
    if chromium_binary() is None:
        pytest.fail("Chromium is missing: scripts/install-services installs it (make test)")
    async with Browser() as browser:
        page = await browser.open(page_path)
        assert page.requests == [] and page.errors == []
        assert "Daily report" in page.title
        for text in ("Availability", "nas", "100.0 %", "Disk fill forecast", "HostDiskFull",
                     "Mean time to resolve: 30 min"):
            assert text in page.text, text
        shot = tmp_path / "report-screenshot.png"
        shot.write_bytes(page.png)
        img = matplotlib.image.imread(io.BytesIO(page.png), format="png")
        height, width = img.shape[:2]
        assert width == 1280 and 2000 < height < 6000, (width, height)
        assert (img[10, 10, :3] < 0.2).all()  # the dark header
        # The charts' dark background (#282a30-ish) fills three large blocks of the page.
        dark_rows = (img[:, 100:1100, :3].mean(axis=(1, 2)) < 0.25).sum()
        assert dark_rows > 3 * 500, dark_rows
        assert len(np.unique(img[::7, ::7, :3].reshape(-1, 3), axis=0)) > 50  # not blank
        control = tmp_path / "control.html"
        control.write_text(
            "<!DOCTYPE html><title>c</title><img src='http://127.0.0.1:9/x.png'>"
            "<script>console.error('boom')</script>"
        )
        bad = await browser.open(control)
        assert bad.requests == ["http://127.0.0.1:9/x.png"]
        assert any("boom" in e for e in bad.errors)


async def test_a_long_range_reads_influxdb(tmp_path: Path, stack: Stack) -> None:
    """With InfluxDB enabled and the day longer than Prometheus keeps, the usage figures come
    from the exporter's InfluxDB points (the report names InfluxDB as a source)."""
    rt = await Runtime.build(_settings(tmp_path, stack, influx=True))
    try:
        service = rt.core.feature(ReportService)
        assert service is not None and rt.influx is not None
        data = await service.collect(period_ending("daily", service.now()), "nas")
        (nas,) = data.hosts
        assert nas.cpu is not None and nas.memory is not None and nas.disk is not None
        assert rt.influx.source in data.sources
        msg = await asyncio.to_thread(service.message, data)
        html = msg.images[-1].data.decode()
        assert "report-daily-nas-" in msg.images[-1].filename and rt.influx.source in html
        unknown = await service.report(CONSOLE_ACTOR, "weekly", "no-such-host")
        assert unknown.outcome == "not_found" and "nas" in unknown.text
    finally:
        await rt.close()


async def test_the_weekly_report_has_a_projects_section_from_the_projects_feature(
    tmp_path: Path, stack: Stack
) -> None:
    """With a project whose tasks were opened and done this week, the weekly report (as the
    runtime wires it) gains a Projects section (done, opened, overdue per project) and the
    throughput chart, in Discord's message and in the HTML file; the daily report has none."""
    rt = await Runtime.build(_settings(tmp_path, stack))
    try:
        for command, args in [
            ("project create", {"name": "NAS upgrade"}),
            ("task add", {"project": "NAS upgrade", "title": "order disks"}),
            ("task add", {"project": "NAS upgrade", "title": "swap disks"}),
            ("task add", {"project": "NAS upgrade", "title": "scrub pool"}),
            ("task done", {"task": 1}),
        ]:
            assert (await rt.core.execute(CONSOLE_ACTOR, command, args)).outcome == "ok", command
        service = rt.core.feature(ReportService)
        assert service is not None
        weekly = await service.collect(period_ending("weekly", service.now()))
        view = weekly.extra["projects"]
        assert view.rows == (("NAS upgrade", "1", "3", "0"),)  # type: ignore[attr-defined]
        msg = await asyncio.to_thread(service.message, weekly)
        assert validate(msg) == []
        section = next(e for e in msg.embeds if e.title == "Projects")
        assert "1 done, 3 opened, 0 overdue" in section.description
        pngs = [i.filename for i in msg.images if i.filename.endswith(".png")]
        assert "report-weekly-projects.png" in pngs and len(pngs) == 4, pngs
        usage = next(e for e in msg.embeds if e.title == "CPU, memory and disk")
        chart_embeds = [e.image for e in msg.embeds if e.image]
        assert chart_embeds.count("report-weekly-projects.png") == 1 and usage.image == ""
        html = msg.images[-1].data.decode()
        assert "NAS upgrade" in html and html.count("data:image/png;base64,") == 4
        daily = await service.collect(period_ending("daily", service.now()))
        assert "projects" not in daily.extra
    finally:
        await rt.close()
