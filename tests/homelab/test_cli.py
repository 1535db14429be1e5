"""Both command lines: --help, --version, and check-config with masked secrets and named errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from homelab import __version__

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = {"homelab-exporter": "exporter.cli", "homelab-bot": "bot.cli"}


def _run(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    full_env.update(env or {})
    code = f"import sys; from {module} import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("prog", PROGRAMS)
def test_help_and_version(prog: str) -> None:
    """--help describes the program and --version prints the package version."""
    helped = _run(PROGRAMS[prog], "--help")
    assert helped.returncode == 0 and "check-config" in helped.stdout
    version = _run(PROGRAMS[prog], "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"{prog} {__version__}"


@pytest.mark.parametrize("prog", PROGRAMS)
def test_no_command_fails_with_the_usage(prog: str) -> None:
    """Started without a command (as a service manager might), each program prints its usage
    to stderr and exits 2, so the mistake is seen, never a quiet exit 0 (or a default run)."""
    out = _run(PROGRAMS[prog])
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    assert out.stderr.startswith(f"usage: {prog}") and f"{prog} run" in out.stderr


def test_console_scripts_are_installed() -> None:
    """The console scripts exist in the environment and answer --version."""
    bindir = Path(sys.executable).parent
    for prog in PROGRAMS:
        out = subprocess.run([bindir / prog, "--version"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert __version__ in out.stdout


@pytest.mark.parametrize(
    ("module", "env_name"),
    [
        ("exporter.cli", "HOMELAB_EXPORTER__INFLUX__PASSWORD"),
        ("bot.cli", "HOMELAB_BOT__DISCORD__TOKEN"),
    ],
)
def test_check_config_masks_secrets(module: str, env_name: str) -> None:
    """check-config prints the effective settings but never a secret's value."""
    out = _run(module, "check-config", env={env_name: "canary-secret-123456"})
    assert out.returncode == 0, out.stderr
    assert "canary-secret-123456" not in out.stdout + out.stderr
    assert "********" in out.stdout


def test_check_config_names_the_wrong_setting(tmp_path: Path) -> None:
    """A wrong value in the file makes check-config exit 2 naming the setting."""
    cfg = tmp_path / "homelab.toml"
    cfg.write_text('[exporter]\nport = 70000\n[exporter.influx]\nurl = "influx:8086"\n')
    out = _run("exporter.cli", "--config", str(cfg), "check-config")
    assert out.returncode == 2
    assert "exporter.port" in out.stderr and "HOMELAB_EXPORTER__PORT" in out.stderr
    assert "exporter.influx.url" in out.stderr and "http://" in out.stderr


@pytest.mark.parametrize("example", sorted((ROOT / "deploy").glob("*.example.toml")))
def test_example_settings_files_are_valid(example: Path) -> None:
    """Every commented example settings file under deploy/ passes check-config for both programs."""
    for module in PROGRAMS.values():
        out = _run(module, "--config", str(example), "check-config")
        assert out.returncode == 0, out.stderr


def _leaf_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names |= _leaf_names(ann)
        else:
            names.add(name)
    return names


def test_example_documents_every_setting() -> None:
    """deploy/homelab.example.toml mentions every setting of both programs."""
    from bot.settings import BotSettings
    from exporter.settings import ExporterSettings

    text = (ROOT / "deploy" / "homelab.example.toml").read_text()
    for cls in (ExporterSettings, BotSettings):
        missing = [
            n
            for n in _leaf_names(cls)
            if not re.search(rf"^#? ?{n} =|^\[[\w.]*\b{n}[.\]]", text, re.M)
        ]
        assert missing == [], f"{cls.__name__} settings absent from the example: {missing}"
