"""Alert and recording rules: metadata, thresholds, promtool check and unit tests, coverage."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import schema
from tests.conftest import _missing
from tests.harness.services import BinaryMissing, find_binary

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted((RULES_DIR / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
ALERTING_DOC = ROOT / "docs" / "alerting.md"
SEVERITIES = {"critical", "warning", "info", "none"}
# Alerts about the alerting pipeline as a whole rather than a host: no instance to name.
HOSTLESS = {"Watchdog"}
RUNBOOK_BASE = "{{ $externalLabels.docs_base_url }}"
THRESHOLD = "homelab_alert_threshold"


def load_rules(files: Iterable[Path] = RULE_FILES) -> list[dict[str, Any]]:
    """Every rule of the given rule files."""
    return [
        rule
        for path in files
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def load_tests(files: Iterable[Path] = TEST_FILES) -> list[dict[str, Any]]:
    """Every promtool test group of the given test files."""
    return [t for path in files for t in yaml.safe_load(path.read_text())["tests"]]


ALERTS = {r["alert"]: r for r in load_rules() if "alert" in r}
THRESHOLD_ALERTS = sorted(n for n, r in ALERTS.items() if THRESHOLD in r["expr"])
RECORDS = {r["record"]: r for r in load_rules() if "record" in r}


def _label_value(series: str, label: str) -> str | None:
    m = re.search(rf'\b{label}="([^"]*)"', series)
    return m.group(1) if m else None


def coverage_problems(alerts: dict[str, dict[str, Any]], tests: list[dict[str, Any]]) -> list[str]:
    """What the promtool tests leave untested: each alert must fire, stay silent, and for
    threshold alerts, meet a per-host and a fleet-wide threshold and fall back to its default."""
    problems: list[str] = []
    for name, rule in sorted(alerts.items()):
        fires = silent = per_host_and_fleet = default = False
        for group in tests:
            series = [s["series"] for s in group.get("input_series", [])]
            mine = [s for s in series if s.startswith(THRESHOLD) and f'"{name}"' in s]
            for case in group.get("alert_rule_test", []):
                if case["alertname"] != name:
                    continue
                expected = case.get("exp_alerts") or []
                fired = {a["exp_labels"].get("instance") for a in expected}
                inputs = {
                    _label_value(s, "instance") for s in series if not s.startswith(THRESHOLD)
                }
                fires = fires or bool(expected)
                silent = silent or not expected or bool(inputs - fired)
                if expected and any(_label_value(s, "instance") for s in mine) and any(
                    _label_value(s, "instance") is None for s in mine
                ):
                    per_host_and_fleet = True
                if expected and not mine:
                    default = True
        if not fires:
            problems.append(f"{name}: no promtool test where it fires")
        if not silent:
            problems.append(f"{name}: no promtool test where it stays silent")
        if THRESHOLD in rule["expr"]:
            if not per_host_and_fleet:
                problems.append(f"{name}: no test with per-host and fleet-wide thresholds")
            if not default:
                problems.append(f"{name}: no test where the built-in default threshold applies")
    return problems


def test_every_alert_has_promtool_unit_tests() -> None:
    """Each alert fires and stays silent in rules/tests/, threshold alerts in all three cases."""
    assert ALERTS, "no alert rules found under rules/"
    problems = coverage_problems(ALERTS, load_tests())
    assert not problems, "add promtool tests under rules/tests/:\n" + "\n".join(problems)


def test_unit_tests_evaluate_recording_rules_before_alerts() -> None:
    """Test files that load alerts fix group order, recording first, so values are stable."""
    groups = [g["name"] for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"]]
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text())
        if "../alerts.yml" in doc["rule_files"]:
            order = doc.get("group_eval_order", [])
            assert order and order[0] == "homelab.recording", path.name
            assert sorted(order) == sorted(groups), f"{path.name}: list every rule group"


def test_coverage_check_names_an_alert_without_tests() -> None:
    """The coverage check reports an alert that no promtool test mentions."""
    alerts = dict(ALERTS)
    alerts["HostOnFire"] = {"alert": "HostOnFire", "expr": f"x > {THRESHOLD}"}
    problems = coverage_problems(alerts, load_tests())
    assert "HostOnFire: no promtool test where it fires" in problems
    assert "HostOnFire: no test where the built-in default threshold applies" in problems


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_alert_has_severity_annotations_and_runbook(name: str) -> None:
    """Severity label, summary and description naming host and value, runbook anchor exists."""
    rule = ALERTS[name]
    assert rule["labels"]["severity"] in SEVERITIES
    ann = rule["annotations"]
    if name not in HOSTLESS:
        assert "$labels.instance" in ann["summary"] and "$labels.instance" in ann["description"]
    boolean = re.search(r"(==\s*[01]|vector\(1\))\s*$", rule["expr"].strip())
    if not boolean:
        assert "$value" in ann["summary"] + ann["description"], f"{name} does not show its value"
    url = ann["runbook_url"]
    assert url == f"{RUNBOOK_BASE}docs/runbook.md#{name.lower()}", "absolute with docs_base_url"
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", RUNBOOK.read_text(), flags=re.M)
    }
    assert name.lower() in headings, f"docs/runbook.md has no heading '{name}'"


@pytest.mark.parametrize("name", THRESHOLD_ALERTS)
def test_threshold_alert_reads_only_its_own_thresholds(name: str) -> None:
    """Both threshold selectors name this alert, read only the bot's job and take the strictest
    (min) series; the default label matches the expression; the description shows the
    threshold in effect by the same lookup."""
    expr = ALERTS[name]["expr"]
    names = re.findall(rf'{THRESHOLD}{{job="homelab-bot", alertname="([^"]+)"', expr)
    assert names == [name, name] and expr.count(THRESHOLD) == 2
    bot = f'{THRESHOLD}{{job="homelab-bot", alertname="{name}"'
    assert f'min by (instance) ({bot}, instance!=""}})' in expr
    assert f'min ({bot}, instance=""}})' in expr
    default = re.search(r"\+ ([0-9.]+)\s*\)\s*$", expr)
    assert default is not None, f"{name} has no built-in default"
    assert float(default.group(1)) == float(ALERTS[name]["labels"]["threshold_default"])
    lookup = (f'min({THRESHOLD}{{job="homelab-bot",alertname="{name}",instance="%s"}}) or '
              f'min({THRESHOLD}{{job="homelab-bot",alertname="{name}",instance=""}}) or '
              f'vector({default.group(1)})')
    assert f"above its threshold of {{{{ with printf `{lookup}` $labels.instance | query }}}}" in (
        ALERTS[name]["annotations"]["description"])


def test_alerting_doc_lists_every_threshold_alert_with_its_default() -> None:
    """docs/alerting.md has a table row per threshold alert showing its default."""
    doc = ALERTING_DOC.read_text()
    for name in THRESHOLD_ALERTS:
        default = ALERTS[name]["labels"]["threshold_default"]
        row = re.search(rf"^\| `{name}` \|.*\| `{re.escape(default)}` \|", doc, flags=re.M)
        assert row, f"docs/alerting.md has no row for {name} with default {default}"


def test_alerting_doc_lists_every_alert_with_severity_and_duration() -> None:
    """docs/alerting.md's alert table matches each rule's severity and `for`."""
    doc = ALERTING_DOC.read_text()
    for name, rule in ALERTS.items():
        severity, for_ = rule["labels"]["severity"], rule.get("for", "-")
        row = rf"^\| `{name}` \| {severity} \|.*\| {re.escape(for_)} \|$"
        assert re.search(row, doc, flags=re.M), f"docs/alerting.md: no row '{name} {severity}'"


def test_recording_rules_follow_naming_convention_and_schema() -> None:
    """Names are level:metric:operations, and exporter.schema's recorded names exist."""
    for name in RECORDS:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), name
    in_schema = {v for v in vars(schema).values() if isinstance(v, str) and v.count(":") == 2}
    assert in_schema, "exporter.schema lists no recording rules"
    assert in_schema <= set(RECORDS), f"missing from rules/: {in_schema - set(RECORDS)}"
    assert set(RECORDS) <= in_schema, f"add to exporter/schema.py: {set(RECORDS) - in_schema}"


def _promtool() -> str:
    try:
        return find_binary("promtool")
    except BinaryMissing as exc:
        _missing(exc)
        raise


@pytest.mark.integration
def test_promtool_check_rules_is_clean() -> None:
    """`promtool check rules` accepts every rule file without warnings."""
    proc = subprocess.run(
        [_promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "WARNING" not in out.upper(), out
    assert out.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.integration
def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules` passes every unit test under rules/tests/."""
    assert TEST_FILES
    proc = subprocess.run(
        [_promtool(), "test", "rules", *map(str, TEST_FILES)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("SUCCESS") == len(TEST_FILES), out
