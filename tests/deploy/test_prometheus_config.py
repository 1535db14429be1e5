"""deploy/prometheus.yml on a real Prometheus: rules load, jobs scrape, thresholds join."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import _missing
from tests.deploy.stack import deploy_config
from tests.deploy.stubs import BotStub
from tests.harness.services import (
    Alertmanager,
    BinaryMissing,
    NodeExporter,
    Prometheus,
    find_binary,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus.yml"
FILE_SD = ROOT / "deploy" / "file_sd"


def rules_by_name() -> dict[str, dict[str, Any]]:
    """Every rule of rules/*.yml by alert or record name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((ROOT / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[rule.get("alert") or rule["record"]] = rule
    return found


def test_promtool_accepts_the_file_as_make_run_uses_it() -> None:
    """`promtool check config deploy/prometheus.yml` passes, finding rules/ and file_sd from
    deploy/, as under `make run`."""
    try:
        promtool = find_binary("promtool")
    except BinaryMissing as exc:
        _missing(exc)
    proc = subprocess.run([promtool, "check", "config", str(CONFIG)],
                          capture_output=True, text=True, timeout=60, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    rule_files = sorted((ROOT / "rules").glob("*.yml"))
    assert f"SUCCESS: {len(rule_files)} rule files found" in out


@pytest.fixture
def bot() -> Iterator[BotStub]:
    """A stand-in for the bot's /metrics."""
    with BotStub().running() as stub:
        yield stub


@pytest.fixture
def prom(
    prometheus_factory: Callable[..., Prometheus],
    alertmanager: Alertmanager,
    node_exporter: NodeExporter,
    bot: BotStub,
    tmp_path: Path,
) -> Prometheus:
    """A real Prometheus running deploy/prometheus.yml, node_exporter as a homelab-exporter host."""
    sd_dir = tmp_path / "file_sd"
    sd_dir.mkdir()
    (sd_dir / "homelab-exporter.yml").write_text(f"- targets: ['{node_exporter.address}']\n")
    # the shipped file_sd files, as they are
    (sd_dir / "homelab-exporter-shipped.yml").write_text(
        (FILE_SD / "homelab-exporter.yml").read_text()
    )
    (sd_dir / "node.yml").write_text((FILE_SD / "node.yml").read_text())
    cfg = deploy_config(sd_dir, bot.address, alertmanager.address)
    prom = prometheus_factory(config=cfg)
    for job in cfg["scrape_configs"]:
        if job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [prom.address]}]
    prom.reload()
    prom.sd_dir = sd_dir  # type: ignore[attr-defined]
    return prom


def test_prometheus_loads_every_rule_scrapes_every_job_and_finds_alertmanager(
    prom: Prometheus, alertmanager: Alertmanager, node_exporter: NodeExporter, bot: BotStub
) -> None:
    """Every rule of rules/ loads and evaluates cleanly; each job is up; Alertmanager is active."""
    expected = set(rules_by_name())

    def all_ok(_: object) -> bool:
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        return {r["name"] for r in rules} == expected and all(
            r["health"] == "ok" for r in rules
        )

    prom.wait_for("vector(1)", all_ok)
    for job, instance in [
        ("homelab-exporter", node_exporter.address),
        ("homelab-bot", bot.address),
        ("prometheus", prom.address),
        ("alertmanager", alertmanager.address),
    ]:
        prom.wait_for_value(f'up{{job="{job}", instance="{instance}"}}', lambda v: v == 1.0)
    active = prom.api("alertmanagers")["activeAlertmanagers"]
    assert [a["url"] for a in active] == [f"{alertmanager.url}/api/v2/alerts"]
    prom.wait_for(
        f'instance:node_cpu_busy:ratio{{instance="{node_exporter.address}"}}',
        lambda r: len(r) == 1 and 0.0 <= float(r[0]["value"][1]) <= 1.0,
    )
    shipped = {t["labels"]["instance"] for t in prom.api("targets")["activeTargets"]}
    assert "127.0.0.1:9101" in shipped, "deploy/file_sd/homelab-exporter.yml was not read"


def test_thresholds_from_the_bots_metrics_take_effect_without_reload(
    prom: Prometheus, node_exporter: NodeExporter, bot: BotStub
) -> None:
    """Per-host beats fleet-wide beats default, through the real scrape and relabelling."""
    expr = rules_by_name()["HostClockSkew"]["expr"]
    host = node_exporter.address

    def serve(per_host: float | None, fleet: float | None) -> None:
        lines = ["# TYPE homelab_alert_threshold gauge"]
        if per_host is not None:
            lines.append(
                f'homelab_alert_threshold{{alertname="HostClockSkew",instance="{host}"}} {per_host}'
            )
        if fleet is not None:
            lines.append(f'homelab_alert_threshold{{alertname="HostClockSkew"}} {fleet}')
        bot.text = "\n".join(lines) + "\n"

    def fires(result: list[dict[str, Any]]) -> bool:
        return [r["metric"]["instance"] for r in result] == [host]

    # The clock offset on loopback is milliseconds: below the 1 s default, above -1.
    serve(per_host=-1, fleet=1000)
    prom.wait_for(expr, fires, timeout=60)
    stored = prom.query("homelab_alert_threshold")
    labels = sorted((sorted(r["metric"].items()) for r in stored), key=len)
    assert labels == [
        [("__name__", "homelab_alert_threshold"), ("alertname", "HostClockSkew"),
         ("job", "homelab-bot")],
        [("__name__", "homelab_alert_threshold"), ("alertname", "HostClockSkew"),
         ("instance", host), ("job", "homelab-bot")],
    ]
    serve(per_host=1000, fleet=-1)
    prom.wait_for(expr, lambda r: r == [], timeout=60)
    serve(per_host=None, fleet=-1)
    prom.wait_for(expr, fires, timeout=60)
    serve(per_host=None, fleet=None)
    prom.wait_for(expr, lambda r: r == [], timeout=60)
    assert prom.query("homelab_alert_threshold") == []


def test_adding_a_host_is_adding_a_line_to_file_sd(
    prom: Prometheus, node_exporter: NodeExporter
) -> None:
    """A target in deploy/file_sd/local/ (which git ignores) is scraped without a reload."""
    second = node_exporter.address.replace("127.0.0.1", "localhost")
    sd_file: Path = prom.sd_dir / "local" / "homelab-exporter.yml"  # type: ignore[attr-defined]
    with sd_file.open("a") as fh:
        fh.write(f"- targets: ['{second}']\n")
    prom.wait_for_value(
        f'up{{job="homelab-exporter", instance="{second}"}}', lambda v: v == 1.0, timeout=60
    )
