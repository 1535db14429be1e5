"""Grafana: dashboards parse, match the generator and the provisioned datasources, and every
query runs with its template variables filled in: PromQL on a real Prometheus scraping our
exporter and the real bot (tests/deploy/stack.py), InfluxQL on a real InfluxDB."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from exporter import schema
from tests.deploy.promql import metric_name, selectors
from tests.deploy.stack import STACK_HOSTNAME, Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "homelab.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "homelab.yml"

def generator() -> ModuleType:
    """grafana/generate.py as a module."""
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> parsed dashboard."""
    return {p.name: json.loads(p.read_text()) for p in DASHBOARD_FILES}


def panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def targets(dash: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of the dashboard."""
    for p in panels(dash):
        for t in p.get("targets", []):
            yield p["title"], t


def provisioned() -> dict[str, str]:
    """uid -> type of every provisioned datasource."""
    doc = yaml.safe_load(DATASOURCES.read_text())
    return {d["uid"]: d["type"] for d in doc["datasources"]}


def test_dashboards_are_what_the_generator_writes() -> None:
    """The checked-in JSON is exactly grafana/generate.py's output (edit the generator)."""
    rendered = generator().render()
    assert sorted(rendered) == [p.name for p in DASHBOARD_FILES]
    for name, text in rendered.items():
        assert (GRAFANA / "dashboards" / name).read_text() == text, f"regenerate {name}"


def test_dashboards_parse_with_unique_uids_titles_and_panel_ids() -> None:
    """Every dashboard parses; uids and titles are unique; panel ids are unique within each."""
    dashes = dashboards()
    assert set(dashes) == {"fleet-overview.json", "host-detail.json",
                           "alerts-and-notifications.json", "internals.json"}
    uids = [d["uid"] for d in dashes.values()]
    titles = [d["title"] for d in dashes.values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    for name, dash in dashes.items():
        ids = [p["id"] for p in panels(dash)]
        assert len(ids) == len(set(ids)), name
        for p in panels(dash):
            pos = p["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, f"{name}: {p['title']}"
            if p["type"] != "row":
                assert p["targets"], f"{name}: {p['title']} has no query"


def test_every_datasource_reference_is_provisioned() -> None:
    """Panels, targets and variables name only provisioned datasources, by uid and type."""
    known = provisioned()
    for name, dash in dashboards().items():
        refs = [p["datasource"] for p in panels(dash) if "datasource" in p]
        refs += [t["datasource"] for _, t in targets(dash)]
        refs += [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]
        assert refs, name
        for ref in refs:
            assert known.get(ref["uid"]) == ref["type"], f"{name}: unknown datasource {ref}"


def test_datasource_variables_are_set_for_grafana_in_compose() -> None:
    """Each ${VAR} of the datasource file is in Grafana's environment in docker-compose.yml."""
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"][
        "environment"
    ]
    text = json.dumps(yaml.safe_load(DATASOURCES.read_text()))  # values only, not comments
    used = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    assert used >= {"PROMETHEUS_URL", "INFLUXDB_URL", "INFLUXDB_TOKEN"}
    for var in used:
        assert var in env, f"grafana's environment lacks {var}"


def test_dashboard_provider_reads_the_directory_compose_mounts() -> None:
    """The provider's path is where docker-compose.yml mounts grafana/dashboards."""
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    mounts = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"][
        "volumes"
    ]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_host_detail_is_templated_on_node_uname_info() -> None:
    """job, nodename and node come from node_uname_info, chained like Node Exporter Full; the
    hidden host (the configured name, InfluxDB's host tag) follows the chosen instance."""
    variables = {v["name"]: v for v in dashboards()["host-detail.json"]["templating"]["list"]}
    assert list(variables) == ["job", "nodename", "node", "host"]
    for v in variables.values():
        assert v["query"]["query"].startswith("label_values(node_uname_info")
    assert '$job' in variables["nodename"]["query"]["query"]
    assert '$nodename' in variables["node"]["query"]["query"]
    assert 'instance="$node"' in variables["host"]["query"]["query"]
    assert variables["host"]["query"]["query"].endswith(", host)") and variables["host"]["hide"]


def test_fleet_overview_repeats_a_row_per_host() -> None:
    """A row repeated over the multi-value instance variable, taken from node_uname_info."""
    dash = dashboards()["fleet-overview.json"]
    rows = [p for p in dash["panels"] if p["type"] == "row" and p.get("repeat")]
    assert [r["repeat"] for r in rows] == ["instance"]
    var = next(v for v in dash["templating"]["list"] if v["name"] == "instance")
    assert var["multi"] and "node_uname_info" in var["query"]["query"]


# -- the queries against real services ---------------------------------------------------


def _contract_names() -> set[str]:
    """Metric names the dashboards may use: exporter.schema's and the rules' outputs."""
    names = {v for v in vars(schema).values() if isinstance(v, str) and v.startswith(
        ("homelab_", "node_"))}
    for path in (ROOT / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names | {"ALERTS", "ALERTS_FOR_STATE"}


CONTRACT_NAMES = _contract_names()

# The PromQL targets that rightly return nothing from the stack (our exporter, the real bot,
# Alertmanager, Prometheus itself), and why. The test asserts that each one IS empty, so an
# entry goes stale loudly once a component starts providing its data: then delete it.
EXPECTED_EMPTY: dict[str, str] = {
    'homelab_alert_threshold{job="homelab-bot"}': (
        "no component publishes thresholds yet: the bot's /metrics has only "
        "homelab_bot_commands_total (thresholds set from Discord are still to be built; "
        "tests/deploy/test_prometheus_config.py checks the contract with a stand-in)"
    ),
    'homelab_exporter_collector_success{job="homelab-exporter", instance=~"$instance"} == 0': (
        "lists failing collectors, and every collector of a healthy exporter succeeds"
    ),
}

# A rule file loaded beside rules/: one alert that fires at once and one that stays pending,
# so the ALERTS panels have something to show without waiting for a real alert's `for`.
CANARY_RULES = {"groups": [{"name": "test.canary", "rules": [
    {"alert": "DashboardCanaryFiring", "expr": "vector(1)", "labels": {"severity": "info"}},
    {"alert": "DashboardCanaryPending", "expr": "vector(1)", "for": "1h",
     "labels": {"severity": "info"}},
]}]}


def fill(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana's template variables with concrete values."""
    builtins = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m",
                "timeFilter": "time > now() - 1h"}
    merged = {**builtins, **values}
    for name in sorted(merged, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", merged[name]).replace(f"${name}", merged[name])
    assert "$" not in expr.replace("$1", ""), f"unfilled variable in {expr}"
    return expr


def test_selector_extraction() -> None:
    """selectors() finds metric selectors and skips functions, aggregations and clauses."""
    expr = ('sum by (mode) (rate(node_cpu_seconds_total{instance="a", mode!="idle"}[1m])) '
            '/ scalar(instance:node_num_cpu:count{instance="a"}) or vector(0)')
    assert selectors(expr) == [
        'node_cpu_seconds_total{instance="a", mode!="idle"}',
        'instance:node_num_cpu:count{instance="a"}',
    ]


def promql_queries() -> list[tuple[str, str]]:
    """(where, raw PromQL) of every Prometheus target and template variable query."""
    queries = []
    for name, dash in dashboards().items():
        queries += [(f"{name} / {title}", t["expr"]) for title, t in targets(dash) if "expr" in t]
        for var in dash["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
            assert m, f"{name}: variable {var['name']} is not a label_values() query"
            queries.append((f"{name} / variable {var['name']}", m.group(1)))
    return queries


def test_expected_empty_names_real_queries() -> None:
    """Each EXPECTED_EMPTY entry is a query of some dashboard (no stale entries)."""
    raw = {q for _, q in promql_queries()}
    assert set(EXPECTED_EMPTY) <= raw, set(EXPECTED_EMPTY) - raw


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Our exporter (writing to InfluxDB) and the real bot, scraped by a real Prometheus on
    deploy/prometheus.yml with rules/ and a canary rule file, beside a real Alertmanager."""
    workdir = tmp_path_factory.mktemp("stack")
    canary = workdir / "canary.yml"
    canary.write_text(yaml.safe_dump(CANARY_RULES))
    with running_stack(workdir, extra_rule_files=(canary,)) as running:
        running.prom.wait_for('ALERTS{alertstate="pending"}', bool)
        running.prom.wait_for('ALERTS{alertstate="firing"}', bool)
        yield running


@pytest.mark.integration
def test_every_promql_query_returns_data_from_our_exporter_and_bot(stack: Stack) -> None:
    """Each PromQL target and variable query, variables filled in, is accepted by the real
    Prometheus and returns data; only the EXPECTED_EMPTY ones return nothing."""
    prom = stack.prom
    instance = stack.exporter.address
    uname = prom.query(f'node_uname_info{{instance="{instance}"}}')[0]["metric"]
    values = {"job": "homelab-exporter", "instance": instance, "node": instance,
              "nodename": uname["nodename"], "host": uname["host"]}
    known = set(prom.api("label/__name__/values")) | CONTRACT_NAMES
    failures = []
    checked = 0
    for where, raw in promql_queries():
        expr = fill(raw, values)
        try:
            result = prom.query(expr)
        except Exception as exc:
            failures.append(f"{where}: {expr}: {exc}")
            continue
        checked += 1
        for sel in selectors(expr):
            if metric_name(sel) not in known:
                failures.append(f"{where}: unknown metric {metric_name(sel)}")
        if raw in EXPECTED_EMPTY:
            if result:
                failures.append(f"{where}: data from {expr}; remove it from EXPECTED_EMPTY")
        elif not result:  # a series may come or go between two queries: retry
            try:
                prom.wait_for(expr, bool, timeout=10)
            except Exception:
                failures.append(f"{where}: no data from {expr}")
    assert not failures, "\n".join(failures)
    assert checked >= 60, checked


@pytest.mark.integration
def test_influxql_queries_read_what_our_exporter_wrote(stack: Stack) -> None:
    """The InfluxDB panels' InfluxQL, on the real InfluxDB, returns values from the points our
    exporter wrote there (Telegraf schema), for the host named as node_uname_info's `host` label
    names it (the exporter's hostname, which differs from its nodename here)."""
    instance = stack.exporter.address
    uname = stack.prom.query(f'node_uname_info{{instance="{instance}"}}')[0]["metric"]
    assert uname["host"] == STACK_HOSTNAME != uname["nodename"]
    found = 0
    for name, dash in dashboards().items():
        for title, t in targets(dash):
            if t["datasource"]["type"] != "influxdb":
                continue
            q = fill(t["query"], {"host": uname["host"], "__interval": "1m"})
            deadline = time.monotonic() + 15
            values: list[Any] = []
            while time.monotonic() < deadline:  # cpu usage needs two samples of the counters
                series = stack.influxdb.series(q, "telegraf")
                values = [v for v in (series[0]["values"] if series else []) if v[1] is not None]
                if values:
                    break
                time.sleep(0.5)
            assert values, f"{name} / {title}: no data from {q}"
            found += 1
    assert found >= 2
