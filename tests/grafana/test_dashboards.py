"""Grafana: dashboards parse, match the generator and the provisioned datasources, and every
query runs on a real Prometheus (and InfluxDB) with its template variables filled in."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from exporter import schema
from tests.deploy.stubs import BotStub
from tests.harness.services import Alertmanager, InfluxDB, NodeExporter, Prometheus, static_job

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "homelab.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "homelab.yml"

AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
                "quantile", "count_values", "group"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset"}


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
    """job, nodename and node come from node_uname_info, chained like Node Exporter Full."""
    variables = {v["name"]: v for v in dashboards()["host-detail.json"]["templating"]["list"]}
    assert list(variables) == ["job", "nodename", "node"]
    for v in variables.values():
        assert v["query"]["query"].startswith("label_values(node_uname_info")
    assert '$job' in variables["nodename"]["query"]["query"]
    assert '$nodename' in variables["node"]["query"]["query"]


def test_fleet_overview_repeats_a_row_per_host() -> None:
    """A row repeated over the multi-value instance variable, taken from node_uname_info."""
    dash = dashboards()["fleet-overview.json"]
    rows = [p for p in dash["panels"] if p["type"] == "row" and p.get("repeat")]
    assert [r["repeat"] for r in rows] == ["instance"]
    var = next(v for v in dash["templating"]["list"] if v["name"] == "instance")
    assert var["multi"] and "node_uname_info" in var["query"]["query"]


# -- the queries against real services ---------------------------------------------------


def _contract_names() -> set[str]:
    """Metric names that may be absent here: exporter.schema's and the rules' outputs."""
    names = {v for v in vars(schema).values() if isinstance(v, str) and v.startswith(
        ("homelab_", "node_"))}
    for path in (ROOT / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names | {"ALERTS", "ALERTS_FOR_STATE"}


CONTRACT_NAMES = _contract_names()


def fill(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana's template variables with concrete values."""
    builtins = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m",
                "timeFilter": "time > now() - 1h"}
    merged = {**builtins, **values}
    for name in sorted(merged, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", merged[name]).replace(f"${name}", merged[name])
    assert "$" not in expr.replace("$1", ""), f"unfilled variable in {expr}"
    return expr


def selectors(expr: str) -> list[str]:
    """The vector selectors of a PromQL expression (metric name with its matchers)."""
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    e = re.sub(r"\[[^\]]*\]", "", e)
    found = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", e):
        name = m.group(1)
        rest = e[m.end():].lstrip()
        if name in AGGREGATIONS | KEYWORDS or rest.startswith("("):
            continue
        found.append(name + (m.group(2) or ""))
    return found


def test_selector_extraction() -> None:
    """selectors() finds metric selectors and skips functions, aggregations and clauses."""
    expr = ('sum by (mode) (rate(node_cpu_seconds_total{instance="a", mode!="idle"}[1m])) '
            '/ scalar(instance:node_num_cpu:count{instance="a"}) or vector(0)')
    assert selectors(expr) == [
        'node_cpu_seconds_total{instance="a", mode!="idle"}',
        'instance:node_num_cpu:count{instance="a"}',
    ]


def _filters(expr: str) -> bool:
    """True when the expression filters by comparison, so it may be empty with all data."""
    bare = re.sub(r"\{[^}]*\}", "", expr)
    return bool(re.search(r"==|!=|>=|<=|[<>]", bare))


@pytest.fixture
def scraped(
    prometheus_factory: Callable[..., Prometheus],
    node_exporter: NodeExporter,
    alertmanager: Alertmanager,
) -> Iterator[Prometheus]:
    """A real Prometheus with rules/, node_exporter as job homelab-exporter, itself,
    Alertmanager, and a stand-in bot publishing a threshold, through deploy's relabelling."""
    deploy = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    bot_job = next(j for j in deploy["scrape_configs"] if j["job_name"] == "homelab-bot")
    with BotStub().running() as bot:
        bot.text = (
            "# TYPE homelab_alert_threshold gauge\n"
            'homelab_alert_threshold{alertname="HostHighCpu"} 0.95\n'
            "# TYPE homelab_bot_commands_total counter\n"
            'homelab_bot_commands_total{command="status",outcome="allowed"} 3\n'
            'homelab_bot_commands_total{command="silence",outcome="refused"} 1\n'
        )
        jobs = [
            static_job("homelab-exporter", node_exporter.address),
            static_job("homelab-bot", bot.address,
                       metric_relabel_configs=bot_job["metric_relabel_configs"]),
            static_job("alertmanager", alertmanager.address),
        ]
        prom = prometheus_factory(
            scrape_configs=jobs,
            rule_files=[str(p) for p in sorted((ROOT / "rules").glob("*.yml"))],
            alertmanagers=[alertmanager.address],
        )
        prom.reload(scrape_configs=[*jobs, static_job("prometheus", prom.address)])
        # rate() and increase() need two samples of every job, the self-scrape included
        prom.wait_for("min(count_over_time(up[1m])) >= 3", bool)
        prom.wait_for("rate(node_cpu_seconds_total[1m])", bool)
        prom.wait_for("instance:node_cpu_busy:ratio", bool)
        prom.wait_for("increase(homelab_bot_commands_total[1h])", bool)
        yield prom


@pytest.mark.integration
def test_every_promql_query_runs_and_returns_data_where_provided(
    scraped: Prometheus, node_exporter: NodeExporter
) -> None:
    """Each PromQL target and variable query is accepted; it returns data whenever every
    series it selects exists (node_exporter stands in for the exporter)."""
    uname = scraped.query(f'node_uname_info{{instance="{node_exporter.address}"}}')[0]["metric"]
    values = {"job": "homelab-exporter", "instance": node_exporter.address,
              "node": node_exporter.address, "nodename": uname["nodename"]}
    checked = with_data = 0
    failures = []
    known = set(scraped.api("label/__name__/values")) | CONTRACT_NAMES
    for name, dash in dashboards().items():
        queries = [(title, t["expr"]) for title, t in targets(dash) if "expr" in t]
        for var in dash["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
            assert m, f"{name}: variable {var['name']} is not a label_values() query"
            queries.append((f"variable {var['name']}", m.group(1)))
        for title, raw in queries:
            expr = fill(raw, values)
            try:
                result = scraped.query(expr)
            except Exception as exc:
                failures.append(f"{name} / {title}: {expr}: {exc}")
                continue
            checked += 1
            for sel in selectors(expr):
                metric = sel.split("{")[0]
                if metric not in known:
                    failures.append(f"{name} / {title}: unknown metric {metric}")
            provided = all(scraped.query(f"count({s})") for s in selectors(expr))
            if provided and not _filters(expr):
                with_data += 1
                if not result:  # a series may come or go between the two queries: retry
                    try:
                        scraped.wait_for(expr, bool, timeout=10)
                    except Exception:
                        failures.append(f"{name} / {title}: no data from {expr}")
    assert not failures, "\n".join(failures)
    assert checked >= 60 and with_data >= 35, (checked, with_data)


@pytest.mark.integration
def test_influxql_queries_run_on_real_influxdb(influxdb: InfluxDB) -> None:
    """The InfluxDB panels' InfluxQL runs on a real InfluxDB and reads Telegraf-schema points."""
    influxdb.create_database("telegraf")
    now = time.time_ns()
    influxdb.write(
        "telegraf",
        f"cpu,host=nas,cpu=cpu-total usage_idle=75.0 {now}\n"
        f"mem,host=nas used_percent=41.5 {now}\n",
    )
    found = 0
    for name, dash in dashboards().items():
        for title, t in targets(dash):
            if t["datasource"]["type"] != "influxdb":
                continue
            q = fill(t["query"], {"nodename": "nas", "__interval": "1m"})
            series = influxdb.series(q, "telegraf")
            assert series and series[0]["values"], f"{name} / {title}: no data from {q}"
            found += 1
    assert found >= 2
