"""ChartData against a real Prometheus scraping the real exporter and a real InfluxDB 1.x
holding its points: the cache spares Prometheus, long ranges go to InfluxDB or are clipped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.influxdb import InfluxDBClient
from bot.adapters.prometheus import PrometheusClient
from bot.domain.charts import ChartDef, InfluxQuery, PromQuery
from bot.domain.status import Target
from bot.services.chart_data import ChartData, RangeCache
from bot.services.ports import MetricsUnavailable
from tests.harness.exporter import Exporter
from tests.harness.services import InfluxDB, Prometheus, http, static_job, wait_until

pytestmark = pytest.mark.integration

DB = "telegraf"
LOAD = ChartDef(
    name="load",
    title="Load",
    unit="",
    prom=(PromQuery("node_load1{{host}}"),),
    influx=(
        InfluxQuery('SELECT mean("load1") FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter'),
    ),
)


@dataclass
class Stack:
    """Prometheus scraping the exporter (host "nas"), which also writes to InfluxDB."""

    prom: Prometheus
    influxdb: InfluxDB
    target: Target


@pytest.fixture
def stack(start_service: Callable[..., Any], influxdb: InfluxDB) -> Stack:
    """The real exporter, scraped every second and writing to InfluxDB every half second."""
    exp: Exporter = start_service(
        Exporter,
        hostname="nas",
        influx={"enabled": True, "url": influxdb.url, "database": DB, "interval_seconds": 0.5},
    )
    prom: Prometheus = start_service(
        Prometheus, scrape_configs=[static_job("homelab-exporter", exp.address)]
    )
    wait_until(lambda: _instant(prom, "count_over_time(node_load1[1m])") >= 3, what="scrapes")
    wait_until(lambda: "system" in influxdb.measurements(DB), what="InfluxDB points")
    target = Target(instance=exp.address, job="homelab-exporter", name="nas", host="nas")
    return Stack(prom, influxdb, target)


def _instant(prom: Prometheus, expr: str) -> float:
    import json
    from urllib.parse import quote

    status, body = http("GET", f"{prom.url}/api/v1/query?query={quote(expr)}")
    result = json.loads(body)["data"]["result"] if status == 200 else []
    return float(result[0]["value"][1]) if result else 0.0


def range_requests(prom: Prometheus) -> float:
    """Prometheus's own count of requests to /api/v1/query_range."""
    status, body = http("GET", f"{prom.url}/metrics")
    assert status == 200
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            if (
                s.name == "prometheus_http_requests_total"
                and s.labels.get("handler") == "/api/v1/query_range"
            ):
                return float(s.value)
    return 0.0


@pytest.fixture
async def clients(stack: Stack) -> AsyncIterator[tuple[PrometheusClient, InfluxDBClient]]:
    """Clients of the stack's Prometheus and InfluxDB."""
    async with (
        PrometheusClient(stack.prom.url) as prom,
        InfluxDBClient(stack.influxdb.url, database=DB) as influx,
    ):
        yield prom, influx


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_second_identical_request_does_not_reach_prometheus(
    stack: Stack, clients: tuple[PrometheusClient, InfluxDBClient]
) -> None:
    """The same chart twice within a step (and twice at once) is one query_range request;
    after the step has passed it is asked again."""
    prom, _ = clients
    clock = Clock()
    data = ChartData(prom, scrape_interval=1, width_px=20, cache=RangeCache(clock=clock))
    now = time.time() // 30 * 30 + 0.5  # 600 s over 20 px: a 30 s step, early in one
    before = range_requests(stack.prom)
    first = await data.series(LOAD, stack.target, 600, now)
    assert range_requests(stack.prom) == before + 1
    assert first.step == 30 and first.source == prom.source and first.note == ""
    (series,) = first.series
    assert series.labels["instance"] == stack.target.instance and series.points

    again = await data.series(LOAD, stack.target, 600, now + 20)  # same step: same window
    both = await asyncio.gather(*(data.series(LOAD, stack.target, 600, now) for _ in range(2)))
    assert range_requests(stack.prom) == before + 1
    assert again == first and both == [first, first]

    clock.now += 31  # the entry is older than its step
    await data.series(LOAD, stack.target, 600, now)
    assert range_requests(stack.prom) == before + 2


async def test_range_past_retention_goes_to_influxdb(
    stack: Stack, clients: tuple[PrometheusClient, InfluxDBClient]
) -> None:
    """With [bot.influxdb] enabled, a range longer than Prometheus keeps is read from InfluxDB
    (the exporter's points, host-tagged) and Prometheus is not asked."""
    prom, influx = clients
    data = ChartData(prom, influx, retention_seconds=300, scrape_interval=1, width_px=1200)
    before = range_requests(stack.prom)
    got = await data.series(LOAD, stack.target, 3600, time.time())
    assert got.source_kind == "influxdb" and got.source == influx.source and got.step == 3
    (series,) = got.series
    assert series.labels == {"host": "nas"} and series.points
    assert range_requests(stack.prom) == before

    short = await data.series(LOAD, stack.target, 120, time.time())
    assert short.source_kind == "prometheus" and range_requests(stack.prom) == before + 1


async def test_range_past_retention_is_clipped_without_influxdb(
    stack: Stack, clients: tuple[PrometheusClient, InfluxDBClient]
) -> None:
    """Without InfluxDB the range is clipped to the retention, and the note says so."""
    prom, _ = clients
    data = ChartData(prom, None, retention_seconds=86400, scrape_interval=1, width_px=1200)
    got = await data.series(LOAD, stack.target, 7 * 86400, time.time())
    assert got.source_kind == "prometheus" and got.end - got.start == 86400
    assert got.step == 72  # a day over 1200 px, not a week
    assert "Prometheus keeps 1 days" in got.note and "[bot.influxdb]" in got.note
    assert got.series and got.series[0].points


async def test_chart_naming_influxdb_reads_it_for_any_range(
    stack: Stack, clients: tuple[PrometheusClient, InfluxDBClient]
) -> None:
    """A chart whose source is influxdb reads InfluxDB even for 15 minutes; every host when
    no host is given; one that has only InfluxQL fails with a sentence when it is off."""
    prom, influx = clients
    only = ChartDef(name="l", title="L", unit="", prom=(), influx=LOAD.influx, source="influxdb")
    got = await ChartData(prom, influx).series(only, None, 900, time.time())
    assert got.source_kind == "influxdb" and [s.labels for s in got.series] == [{"host": "nas"}]
    with pytest.raises(MetricsUnavailable, match=r"reads only InfluxDB.*enable it with a url"):
        await ChartData(prom, None).series(only, None, 900, time.time())
