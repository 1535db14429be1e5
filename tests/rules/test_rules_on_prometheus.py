"""rules/alerts.yml on a real Prometheus where promtool cannot show it: node_exporter's
collector health as it really is, and runbook links made absolute by an external label."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.services import NodeExporter, Prometheus, static_job

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ALERTS = {
    rule["alert"]: rule
    for group in yaml.safe_load((ROOT / "rules" / "alerts.yml").read_text())["groups"]
    for rule in group["rules"]
}


def test_collector_alert_watches_real_node_exporter_collectors_only_when_failing(
    prometheus_factory: Callable[..., Prometheus], node_exporter: NodeExporter
) -> None:
    """Every collector ExporterCollectorFailing watches on node_exporter exists under that
    name, and on a healthy host the expression is empty, though node_exporter reports 0 for
    hardware it does not find (bonding, nvme, ...)."""
    prom = prometheus_factory(scrape_configs=[static_job("node", node_exporter.address)])
    prom.wait_for('up{job="node"} == 1', bool)
    expr = ALERTS["ExporterCollectorFailing"]["expr"]
    found = re.search(r'node_scrape_collector_success\{collector=~"([^"]+)"\}', expr)
    assert found, "ExporterCollectorFailing does not watch node_exporter's collectors"
    watched = set(found.group(1).split("|"))
    reported = {
        r["metric"]["collector"] for r in prom.query('node_scrape_collector_success{job="node"}')
    }
    assert watched <= reported, f"not node_exporter collectors: {watched - reported}"
    assert prom.query(expr) == []


def _firing(prom: Prometheus, name: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in prom.api("alerts")["alerts"]:
            if alert["labels"]["alertname"] == name and alert["state"] == "firing":
                return alert  # type: ignore[no-any-return]
        time.sleep(0.25)
    raise AssertionError(f"{name} is not firing after {timeout} s")


def test_runbook_links_are_absolute_with_the_docs_base_url_external_label(
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """With `external_labels: {docs_base_url: ...}` (docs/alerting.md, "Runbook links") the
    always-firing Watchdog's runbook_url is that base followed by docs/runbook.md#watchdog."""
    base = "https://git.example/me/homelab/blob/main/"
    prom = prometheus_factory(config={
        "global": {"evaluation_interval": "1s", "external_labels": {"docs_base_url": base}},
        "rule_files": [str(ROOT / "rules" / "alerts.yml")],
    })
    alert = _firing(prom, "Watchdog")
    assert alert["annotations"]["runbook_url"] == f"{base}docs/runbook.md#watchdog"
