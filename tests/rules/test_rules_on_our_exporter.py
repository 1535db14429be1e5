"""rules/ on a real Prometheus scraping OUR exporter (and the real bot and Alertmanager):
proof that the rules' metric names are the ones the exporter really exposes, not only
node_exporter's. The stack is tests/deploy/stack.py (deploy/prometheus.yml, 1 s intervals)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import metric_name, selectors
from tests.deploy.stack import READONLY_DEVICE, Stack, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Metrics that alert expressions select and that no component of the stack provides, and why.
# Everything else an alert selects must exist (an expression over a misspelt name is accepted
# by Prometheus and silently never fires). A test below keeps this list from going stale.
ABSENT: dict[str, str] = {
    "homelab_alert_threshold": (
        "the stack's bot has no threshold set, so it publishes none and the rules fall back to "
        "their built-in defaults; tests/integration/test_thresholds.py checks the real bot's "
        "series after /threshold set, tests/deploy/test_prometheus_config.py the contract"
    ),
}


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of rules/*.yml of that kind ("alert" or "record")."""
    return [
        rule
        for path in sorted(ROOT.glob("rules/*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Our exporter, the bot and Alertmanager, scraped by Prometheus with rules/ loaded."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def test_every_rule_evaluates_cleanly_on_our_exporters_data(stack: Stack) -> None:
    """Prometheus loaded every rule of rules/, and each one's evaluation on real data (where
    joins meet real label sets) has health ok and no error."""
    expected = {r.get("alert") or r["record"] for r in rules("alert") + rules("record")}

    def evaluated(_: object) -> bool:
        loaded = [r for g in stack.prom.api("rules")["groups"] for r in g["rules"]]
        return {r["name"] for r in loaded} == expected and all(
            r.get("lastEvaluation", "").startswith("2") for r in loaded
        )

    stack.prom.wait_for("vector(1)", evaluated)
    loaded = [r for g in stack.prom.api("rules")["groups"] for r in g["rules"]]
    bad = [(r["name"], r["health"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    assert not bad


def test_every_recording_rule_returns_data_for_our_exporter(stack: Stack) -> None:
    """Each recording expression, run as a query, has a series for our exporter's instance,
    and so does the recorded series Prometheus wrote."""
    instance = stack.exporter.address
    missing = []
    for rule in rules("record"):
        direct = stack.prom.query(rule["expr"])
        recorded = stack.prom.query(f'{rule["record"]}{{instance="{instance}"}}')
        if not any(r["metric"].get("instance") == instance for r in direct) or not recorded:
            missing.append(rule["record"])
    assert not missing, f"no data from our exporter for {missing}"
    assert len(rules("record")) >= 15


def test_every_alert_expression_runs_on_series_that_exist(stack: Stack) -> None:
    """Each alert expression is accepted, and every series it selects exists in the stack
    (only the ABSENT metrics, for the reasons given there, may be missing)."""
    problems = []
    seen_absent = set()
    for rule in rules("alert"):
        stack.prom.query(rule["expr"])  # raises with Prometheus' error if not accepted
        for sel in selectors(rule["expr"]):
            name = metric_name(sel)
            if name in ABSENT:
                seen_absent.add(name)
                if stack.prom.query(f"count({sel})"):
                    problems.append(f"{rule['alert']}: {name} exists now; remove it from ABSENT")
            elif not stack.prom.query(f"count({sel})"):
                problems.append(f"{rule['alert']}: nothing matches {sel}")
    assert not problems, "\n".join(problems)
    assert seen_absent == set(ABSENT)


def test_overlay_alerts_fire_on_our_exporters_data(stack: Stack) -> None:
    """The overlay's read-only ext4 mount makes HostFilesystemReadOnly's expression true for
    it, through our exporter's labels; ExporterCollectorFailing's stays empty."""
    by_name = {r["alert"]: r for r in rules("alert")}
    readonly = stack.prom.query(by_name["HostFilesystemReadOnly"]["expr"])
    assert READONLY_DEVICE in [r["metric"]["device"] for r in readonly]
    assert stack.prom.query(by_name["ExporterCollectorFailing"]["expr"]) == []
