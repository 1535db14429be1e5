"""Every named chart's PromQL returns data from a real Prometheus scraping the real exporter,
and its InfluxQL from a real InfluxDB 1.x holding the exporter's points.

The exporter runs on a host overlay (this host's /proc and /sys plus a temperature sensor and
an extra ext4 mount), so every chart, temperature included, has something to show.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.domain.charts import CHARTS
from bot.domain.status import promql_string
from tests.deploy.stack import host_overlay
from tests.harness.exporter import Exporter
from tests.harness.services import InfluxDB, Prometheus, static_job, wait_until

pytestmark = pytest.mark.integration


def test_every_named_chart_query_returns_series_over_a_range(
    prometheus_factory: Callable[..., Prometheus], start_service: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """query_range of each chart's PromQuery for the host gives finite points, named by legend."""
    procfs, sysfs = host_overlay(tmp_path / "host")
    exporter = start_service(Exporter, hostname="nas", procfs_path=str(procfs),
                             sysfs_path=str(sysfs))  # fmt: skip
    prom = prometheus_factory(scrape_configs=[static_job("homelab-exporter", exporter.address)])
    prom.wait_for("rate(node_network_receive_bytes_total[1m])", bool)
    time.sleep(3)  # a few more scrapes, so each rate has points across the range
    matcher = f"instance={promql_string(exporter.address)}, job={promql_string('homelab-exporter')}"
    end = time.time()
    names: dict[str, set[str]] = {}
    for chart in CHARTS.values():
        for query in chart.prom:
            expr = query.expr_for(matcher)
            data = prom.api("query_range", query=expr, start=end - 20, end=end, step=1)
            assert data["resultType"] == "matrix", expr
            assert data["result"], f"{chart.name}: no series for {expr}"
            for series in data["result"]:
                values = [float(v) for _, v in series["values"]]
                assert values and all(math.isfinite(v) for v in values), (chart.name, series)
                name = query.name_for(series["metric"])
                assert name, (chart.name, series["metric"])
                names.setdefault(chart.name, set()).add(name)
                if chart.unit == "ratio":
                    assert all(-1e-9 <= v <= 1 + 1e-9 for v in values), (chart.name, values)
    assert set(names) == set(CHARTS) == {
        "cpu", "memory", "disk", "diskio", "network", "load", "temperature"}
    assert not any(n.startswith("lo ") for n in names["network"]), names["network"]
    assert names["load"] == {"1 min", "5 min", "15 min"}
    assert "/" in names["disk"], names["disk"]
    assert any("temp1" in n for n in names["temperature"]), names["temperature"]


def test_every_named_chart_influxql_reads_the_exporters_points(
    start_service: Callable[..., Any], influxdb: InfluxDB, tmp_path: Path
) -> None:
    """Each chart's InfluxQL, placeholders filled, is valid and returns the exporter's points."""
    procfs, sysfs = host_overlay(tmp_path / "host")
    start_service(
        Exporter, hostname="nas", procfs_path=str(procfs), sysfs_path=str(sysfs),
        influx={"enabled": True, "url": influxdb.url, "database": "telegraf",
                "interval_seconds": 0.5},
    )  # fmt: skip
    wanted = {"cpu", "mem", "disk", "diskio", "net", "system", "temp"}
    wait_until(lambda: wanted <= influxdb.measurements("telegraf"), what=f"measurements {wanted}")
    time.sleep(3)  # several points each, so the derivatives have something to differ
    fill = {"$host": "nas", "$timeFilter": "time > now() - 1m", "$interval": "1s"}
    names: dict[str, set[str]] = {}
    for chart in CHARTS.values():
        assert chart.influx, chart.name
        for query in chart.influx:
            q = query.select
            for placeholder, value in fill.items():
                q = q.replace(placeholder, value)
            doc = influxdb.query(q, "telegraf")
            result = doc["results"][0]
            assert "error" not in result, (chart.name, q, result)
            assert result.get("series"), f"{chart.name}: no series for {q}"
            for series in result["series"]:
                values = [row[1] for row in series["values"] if row[1] is not None]
                assert values and all(math.isfinite(v) for v in values), (chart.name, series)
                name = query.name_for(series.get("tags", {}))
                assert name, (chart.name, series)
                names.setdefault(chart.name, set()).add(name)
                if chart.unit == "ratio":
                    assert all(-1e-9 <= v <= 1 + 1e-9 for v in values), (chart.name, values)
    assert set(names) == set(CHARTS)
    assert not any(n.startswith("lo ") for n in names["network"]), names["network"]
    assert "/" in names["disk"], names["disk"]


async def test_named_charts_from_both_sources_render_with_their_legends(
    start_service: Callable[..., Any], influxdb: InfluxDB, tmp_path: Path
) -> None:
    """ChartData gives each named chart from Prometheus and from InfluxDB, its series named
    by the query's legend, and the renderer turns them into a 1200x600 PNG with lines."""
    from bot.adapters.charts import drawn_figure, render_chart
    from bot.adapters.influxdb import InfluxDBClient
    from bot.adapters.prometheus import PrometheusClient
    from bot.domain.charts import Chart
    from bot.domain.status import Target
    from bot.services.chart_data import ChartData

    procfs, sysfs = host_overlay(tmp_path / "host")
    exporter = start_service(
        Exporter, hostname="nas", procfs_path=str(procfs), sysfs_path=str(sysfs),
        influx={"enabled": True, "url": influxdb.url, "database": "telegraf",
                "interval_seconds": 0.5},
    )  # fmt: skip
    prom = start_service(Prometheus, scrape_configs=[static_job("homelab-exporter",
                                                                exporter.address)])
    prom.wait_for("rate(node_network_receive_bytes_total[1m])", bool)
    wait_until(lambda: "temp" in influxdb.measurements("telegraf"), what="InfluxDB points")
    await asyncio.sleep(3)
    target = Target(instance=exporter.address, job="homelab-exporter", name="nas", host="nas")
    async with (
        PrometheusClient(prom.url) as p,
        InfluxDBClient(influxdb.url, database="telegraf") as i,
    ):
        by_prom = ChartData(p, None, scrape_interval=1, width_px=1200)
        by_influx = ChartData(p, i, retention_seconds=1, scrape_interval=1, width_px=1200)
        for data, kind in ((by_prom, "prometheus"), (by_influx, "influxdb")):
            for chart in CHARTS.values():
                got = await data.series(chart, target, 60, time.time())
                assert got.source_kind == kind and got.series, (kind, chart.name)
                names = {s.name for s in got.series}
                assert all(names) and not any(n.startswith("lo ") for n in names), names
                drawn = Chart(chart.title, got.series, got.start, got.end, unit=chart.unit,
                              step=got.step, minimum=chart.minimum, maximum=chart.maximum,
                              stacked=chart.stacked)
                assert render_chart(drawn).startswith(b"\x89PNG")
                ax = drawn_figure(drawn).axes[0]
                assert ax.lines, (kind, chart.name)
