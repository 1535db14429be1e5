"""The harness starts each real service, and each answers the way the project relies on."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness.services import Alertmanager, InfluxDB, NodeExporter, Prometheus, static_job

pytestmark = pytest.mark.integration


def test_influxdb_write_then_influxql_reads_back(influxdb: InfluxDB) -> None:
    """Points written through /write come back from an InfluxQL SELECT."""
    influxdb.create_database("telegraf")
    now = time.time_ns()
    influxdb.write(
        "telegraf",
        f"mem,host=nas used_percent=41.5,total=8000000000i {now}\n"
        f"mem,host=nas used_percent=42.5,total=8000000000i {now + 1_000_000_000}\n",
    )
    series = influxdb.series("SELECT used_percent, total FROM mem WHERE host = 'nas'", "telegraf")
    assert series[0]["name"] == "mem"
    assert [row[1:] for row in series[0]["values"]] == [[41.5, 8000000000], [42.5, 8000000000]]


def test_prometheus_scrapes_node_exporter(
    prometheus_factory: Callable[..., Prometheus], node_exporter: NodeExporter
) -> None:
    """Prometheus scrapes the reference node_exporter and `up` is 1."""
    prom = prometheus_factory(scrape_configs=[static_job("node", node_exporter.address)])
    assert prom.wait_for_value('up{job="node"}', lambda v: v == 1.0) == 1.0
    assert prom.query('count(node_cpu_seconds_total{mode="idle"})')


def test_prometheus_reload_injects_scrape_target(
    prometheus_factory: Callable[..., Prometheus], node_exporter: NodeExporter
) -> None:
    """Scrape targets can be injected after start through the lifecycle API."""
    prom = prometheus_factory()
    prom.reload(scrape_configs=[static_job("late", node_exporter.address)])
    prom.wait_for_value('up{job="late"}', lambda v: v == 1.0)


def _alert(name: str, **labels: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + dt.timedelta(minutes=5)).isoformat(),
    }


def test_alertmanager_api_v2_reads_back_posted_alert(alertmanager: Alertmanager) -> None:
    """An alert posted to /api/v2/alerts is listed by GET /api/v2/alerts."""
    alertmanager.api("POST", "alerts", [_alert("HarnessCheck", instance="nas:9101")])
    alerts = alertmanager.api("GET", "alerts")
    assert [a["labels"]["alertname"] for a in alerts] == ["HarnessCheck"]
    assert alerts[0]["labels"]["instance"] == "nas:9101"


def test_alertmanager_cluster_gossips_silences(
    alertmanager_cluster: tuple[Alertmanager, Alertmanager],
) -> None:
    """A silence created on one node of a two-node cluster is visible through the other."""
    first, second = alertmanager_cluster
    status = second.api("GET", "status")
    deadline = time.monotonic() + 20
    while len(status["cluster"]["peers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = second.api("GET", "status")
    assert len(status["cluster"]["peers"]) == 2, status["cluster"]
    now = dt.datetime.now(dt.UTC)
    created = first.api(
        "POST",
        "silences",
        {
            "matchers": [{"name": "instance", "value": "nas:9101", "isRegex": False}],
            "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
            "createdBy": "harness",
            "comment": "gossip check",
        },
    )
    sid = created["silenceID"]
    deadline = time.monotonic() + 20
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = [s for s in second.api("GET", "silences") if s["id"] == sid]
        if seen:
            break
        time.sleep(0.2)
    assert seen and seen[0]["comment"] == "gossip check"
    assert seen[0]["status"]["state"] == "active"
