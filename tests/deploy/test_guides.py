"""docs/user-guide.md, docs/operator-guide.md and docs/security.md: every command of the
catalogue is in the user guide under its role, its console transcripts are what the console
prints now, and every snippet of the operator guide is valid (parsed by the programs' own
parsers, loaded as settings, or passed by promtool)."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import build_parser as bot_parser
from bot.domain.commands import COMMANDS
from bot.settings import BotSettings
from exporter.cli import build_parser as exporter_parser
from homelab.settings import load_settings
from tests.conftest import require_binary
from tests.deploy.guides import USER_GUIDE, blocks, normalise, replay

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_GUIDE = ROOT / "docs" / "operator-guide.md"
SECURITY = ROOT / "docs" / "security.md"
OPERATIONS = ROOT / "docs" / "operations.md"
# The languages whose snippets a test below checks, per guide: console transcripts are
# replayed, sh is parsed by bash and its homelab lines by the programs, toml loaded as
# settings, yaml passed by promtool.
CHECKED = {
    USER_GUIDE: {"console"},
    OPERATOR_GUIDE: {"sh", "toml", "yaml"},
    SECURITY: set(),
    OPERATIONS: {"sh"},
}


def _fenced(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), re.S)


def test_user_guide_lists_every_command_under_its_role() -> None:
    """Each catalogue command appears in the table of the section of the role it needs."""
    text = USER_GUIDE.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    missing = []
    for spec in COMMANDS:
        section = sections.get(spec.permission.name.capitalize(), "")
        tables = "\n".join(line for line in section.splitlines() if line.startswith("|"))
        if not re.search(rf"`{re.escape(spec.name)}\b", tables):
            missing.append(f"{spec.name} ({spec.permission.name.lower()})")
    assert missing == []


def test_user_guide_transcripts_are_what_the_console_prints(tmp_path: Path) -> None:
    """Replaying every `$ homelab-bot do ...` block in order against a fresh bot gives the
    documented output (times and hashes aside), exit codes included."""
    documented = blocks(USER_GUIDE.read_text())
    assert len(documented) >= 15
    outputs = replay([cmd for cmd, _ in documented], tmp_path)
    for (cmd, expected), actual in zip(documented, outputs, strict=True):
        assert normalise(actual) == normalise(expected), cmd


def _program_lines(text: str) -> list[list[str]]:
    """argv of every homelab-bot / homelab-exporter invocation in a shell block."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|;", line.split(" #", 1)[0]):
            if not re.search(r"(^|[\s/])homelab-(bot|exporter)\s", part + " "):
                continue  # another program's line (bash -n checks its syntax)
            words = shlex.split(part.replace("<", " < ").replace(">", " > "))
            cut = [i for i, w in enumerate(words) if w in ("<", ">")]  # redirections
            words = words[: cut[0]] if cut else words
            while words and (words[0] in ("sudo", "git", "pull") or "=" in words[0]):
                words = words[1:]
            if words and Path(words[0]).name in ("homelab-bot", "homelab-exporter"):
                found.append([Path(words[0]).name, *words[1:]])
    return found


def test_operator_guide_commands_parse() -> None:
    """Every homelab-bot and homelab-exporter line of the operator guide is accepted by that
    program's own argument parser (a renamed option or command fails here)."""
    lines = [argv for block in _fenced(OPERATOR_GUIDE, "sh") for argv in _program_lines(block)]
    assert {a[0] for a in lines} == {"homelab-bot", "homelab-exporter"} and len(lines) >= 12
    for argv in lines:
        parser = bot_parser() if argv[0] == "homelab-bot" else exporter_parser()
        try:
            parser.parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"{' '.join(argv)} is refused by its parser")


def test_operator_guide_toml_are_valid_bot_settings(tmp_path: Path) -> None:
    """Each TOML snippet, as a settings file, loads as the bot's settings (secret references
    kept unresolved)."""
    snippets = _fenced(OPERATOR_GUIDE, "toml")
    assert len(snippets) >= 3
    for snippet in snippets:
        path = tmp_path / "homelab.toml"
        path.write_text(snippet)
        assert "bot" in tomllib.loads(snippet)
        load_settings(BotSettings, path, resolve_secrets=False)


@pytest.mark.integration
def test_operator_guide_prometheus_snippets_pass_promtool(tmp_path: Path) -> None:
    """Federation, remote_write and the Alertmanager cluster, each merged into
    deploy/prometheus.yml, pass `promtool check config`."""
    promtool = require_binary("promtool")
    snippets: list[dict[str, Any]] = [yaml.safe_load(b) for b in _fenced(OPERATOR_GUIDE, "yaml")]
    assert [sorted(s) for s in snippets] == [["scrape_configs"], ["remote_write"], ["alerting"]]
    base = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    base["rule_files"] = [str(ROOT / "rules" / "*.yml")]
    for job in base["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(ROOT / "deploy" / f) for f in sd["files"]]
    for snippet in snippets:
        cfg = dict(base)
        for key, value in snippet.items():
            cfg[key] = base[key] + value if key == "scrape_configs" else value
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([promtool, "check", "config", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_operator_guide_covers_the_issue_and_leaves_containers_out() -> None:
    """Install, upgrade, configuration, secrets, backup and restore, and each way of scaling
    out; containers are linked to docs/monitoring-setup.md, not described here."""
    text = OPERATOR_GUIDE.read_text()
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    for heading in ("Install", "Upgrade", "Configuration", "Secrets", "Backup and restore",
                    "Scaling out", "Prometheus federation",
                    "remote_write to Thanos, Mimir or VictoriaMetrics", "An Alertmanager cluster",
                    "Many guilds"):  # fmt: skip
        assert heading in headings
    assert "Containers" not in headings and "monitoring-setup.md" in text


def test_security_covers_each_surface_with_guarantees_and_limits() -> None:
    """The threat model has the webhook, the web face, the vault key and the audit chain, each
    saying what it guarantees and what it does not."""
    text = SECURITY.read_text()
    sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    assert "Who can reach what" in sections
    for name in ("The webhook", "The web face", "The vault key", "The audit chain"):
        assert "**Guarantees.**" in sections[name] and "**Does not guarantee.**" in sections[name]


def _fences(path: Path) -> list[str]:
    """The language of every fenced block of `path` ('' when it has none)."""
    marks = re.findall(r"^\s*```(\S*)\s*$", path.read_text(), re.M)
    assert len(marks) % 2 == 0, f"{path.name}: a fence is not closed"
    assert all(m == "" for m in marks[1::2]), f"{path.name}: a closing fence has a language"
    return marks[::2]


@pytest.mark.parametrize("guide", list(CHECKED), ids=lambda p: p.name)
def test_every_snippet_is_of_a_kind_a_test_checks(guide: Path) -> None:
    """No untagged block, and no language that no test here parses or runs."""
    langs = _fences(guide)
    assert [lang for lang in langs if lang not in CHECKED[guide]] == []
    if guide == USER_GUIDE:  # every console block is a transcript the replay test runs
        assert len(blocks(guide.read_text())) == langs.count("console")


@pytest.mark.parametrize("guide", [OPERATOR_GUIDE, OPERATIONS], ids=lambda p: p.name)
def test_shell_snippets_parse(guide: Path) -> None:
    """Each sh block is valid shell (`bash -n`), each homelab-bot / homelab-exporter line is
    accepted by that program's parser, and each `homelab-bot do` line by the console's."""
    from bot.interfaces.console.face import UsageError, parse_line

    blocks = _fenced(guide, "sh")
    assert blocks
    for block in blocks:
        syntax = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True,
                                timeout=30, check=False)  # fmt: skip
        assert syntax.returncode == 0, block + syntax.stderr
        for argv in _program_lines(block):
            parser = bot_parser() if argv[0] == "homelab-bot" else exporter_parser()
            try:
                parser.parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{' '.join(argv)} is refused by its parser")
            if argv[:2] == ["homelab-bot", "do"]:
                try:
                    parse_line(argv[2:])
                except UsageError as exc:
                    pytest.fail(f"{' '.join(argv)}: {exc}")
