"""docs/monitoring-setup.md: its configuration snippets are valid where they claim to be."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import _missing
from tests.harness.services import BinaryMissing, find_binary

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "docs" / "monitoring-setup.md"


def yaml_blocks() -> list[Any]:
    """Every ```yaml block of the setup guide, parsed."""
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", SETUP.read_text(), re.S)]


def test_setup_guide_covers_the_topics_of_the_issue() -> None:
    """Adding hosts, rules and thresholds, Grafana, routing and each way of scaling out."""
    text = SETUP.read_text()
    for heading in ("## Adding a host", "## The rules and their thresholds", "## Grafana",
                    "## Alertmanager routing", "## Scaling out"):
        assert heading in text
    for word in ("Federation", "remote_write", "Thanos", "Mimir", "VictoriaMetrics",
                 "Alertmanager cluster"):
        assert word in text


@pytest.mark.integration
def test_prometheus_snippets_pass_promtool_on_top_of_the_deploy_config(tmp_path: Path) -> None:
    """The federation, remote_write and cluster snippets, merged into deploy/prometheus.yml,
    are a configuration `promtool check config` accepts."""
    try:
        promtool = find_binary("promtool")
    except BinaryMissing as exc:
        _missing(exc)
    base = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    base["rule_files"] = [str(ROOT / "rules" / "*.yml")]
    for job in base["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(ROOT / "deploy" / f) for f in sd["files"]]
    snippets = [b for b in yaml_blocks() if isinstance(b, dict) and set(b) & {
        "scrape_configs", "remote_write", "alerting"}]
    assert len(snippets) == 3
    for snippet in snippets:
        cfg = dict(base)
        for key, value in snippet.items():
            if key == "scrape_configs":
                cfg[key] = base[key] + value
            elif key == "global":
                cfg[key] = {**base[key], **value}
            else:
                cfg[key] = value
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([promtool, "check", "config", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


ALERTING = ROOT / "docs" / "alerting.md"


@pytest.mark.integration
def test_alerting_doc_snippets_pass_promtool_in_the_deploy_config(tmp_path: Path) -> None:
    """docs/alerting.md's external label for runbook links and its metric_relabel_configs for
    a read-only mount, put into deploy/prometheus.yml (global, and the node job), pass
    `promtool check config`; the relabel rule writes the label the rule excludes."""
    try:
        promtool = find_binary("promtool")
    except BinaryMissing as exc:
        _missing(exc)
    blocks = [yaml.safe_load(b)
              for b in re.findall(r"```yaml\n(.*?)```", ALERTING.read_text(), re.S)]
    (labels,) = [b["global"]["external_labels"] for b in blocks if "global" in b]
    (relabel,) = [b["metric_relabel_configs"] for b in blocks if "metric_relabel_configs" in b]
    assert set(labels) == {"docs_base_url"}
    assert relabel[0]["target_label"] == "readonly_expected" and relabel[0]["replacement"] == "true"
    alerts = (ROOT / "rules" / "alerts.yml").read_text()
    assert 'readonly_expected!="true"' in alerts and "$externalLabels.docs_base_url" in alerts
    cfg = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    cfg["rule_files"] = [str(ROOT / "rules" / "*.yml")]
    cfg["global"]["external_labels"] = labels
    for job in cfg["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(ROOT / "deploy" / f) for f in sd["files"]]
        if job["job_name"] == "node":
            job["metric_relabel_configs"] = relabel
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([promtool, "check", "config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Files whose comments or messages point readers to a section of a document.
REFERRING = [ROOT / "README.md", ROOT / "docker-compose.yml", ROOT / ".env.example",
             *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "deploy").rglob("*")),
             *sorted((ROOT / "rules").glob("*.yml")), *sorted((ROOT / "scripts").glob("*")),
             *sorted(ROOT.glob("homelab/*.py")), *sorted(ROOT.glob("bot/**/*.py")),
             *sorted(ROOT.glob("exporter/*.py"))]
SECTION_REF = re.compile(r'\b(?:docs/)?([a-z][a-z-]*\.md),? \(?\\?"([^"\\]+)\\?"')


def section_references() -> list[tuple[str, str, str]]:
    """(referring file, document, section) for each `doc.md ("Section")` / `doc.md, "Section"`,
    comment continuation lines joined."""
    found = []
    for path in REFERRING:
        if not path.is_file():
            continue
        text = re.sub(r'\n\s*#\s*', " ", path.read_text(errors="replace"))
        text = re.sub(r'"\s*\n\s*[f]?"', "", text)  # Python strings split over lines
        for doc, section in SECTION_REF.findall(text):
            found.append((str(path.relative_to(ROOT)), doc, section))
    return found


def test_every_section_a_file_points_to_exists() -> None:
    """Each `docs/x.md ("Section")` reference in the configs, units, scripts, code and docs
    names a heading of that document (or the start of one)."""
    refs = section_references()
    assert ("deploy/alertmanager.yml", "alerting.md", "When the bot is down") in refs
    broken = []
    for source, doc, section in refs:
        target = ROOT / "docs" / doc if (ROOT / "docs" / doc).exists() else ROOT / doc
        headings = re.findall(r"^#+ (?:\d+\. )?(.+?)\s*$", target.read_text(), re.M)
        if not any(h.startswith(section) for h in headings):
            broken.append(f"{source}: {doc} has no section {section!r}")
    assert broken == []


def test_the_dashboards_settings_snippet_is_valid_settings() -> None:
    """docs/dashboards.md's TOML block loads into BotSettings as it is written."""
    import tomllib

    from bot.settings import BotSettings

    text = (ROOT / "docs" / "dashboards.md").read_text()
    (block,) = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    doc = tomllib.loads(block)
    settings = BotSettings(**doc["bot"])
    assert settings.dashboards.welcome.title == "Welcome to the lab"
    assert settings.dashboards.welcome.links[0].label == "Wiki"
