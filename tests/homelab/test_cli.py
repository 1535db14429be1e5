"""Both command lines: --help, --version, and check-config with masked secrets and named errors."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from homelab import __version__

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = {"homelab-exporter": "exporter.cli", "homelab-bot": "bot.cli"}


def _run(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = Path(__file__).parent,  # not ROOT: a `make run` there leaves var/homelab.toml
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    full_env.update(env or {})
    code = f"import sys; from {module} import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60,
        preexec_fn=preexec_fn,
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


def _without_dac_override() -> None:
    """In the child: drop root's power to read any file, so permission bits apply to it too."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.parametrize("prog", PROGRAMS)
def test_unusable_settings_files_exit_2_naming_the_file(prog: str, tmp_path: Path) -> None:
    """An unreadable or non-UTF-8 settings file: exit 2, the file and the reason, no traceback."""
    latin = tmp_path / "latin1.toml"
    latin.write_bytes('[bot]\nlog_level = "caf\xe9"\n'.encode("latin-1"))
    locked = tmp_path / "locked.toml"
    locked.write_text("[bot]\n")
    locked.chmod(0)
    for cfg, words in ((latin, "is not UTF-8 text"), (locked, "Permission denied")):
        for command in ("check-config", "run"):
            out = _run(
                PROGRAMS[prog], "--config", str(cfg), command, preexec_fn=_without_dac_override
            )
            assert out.returncode == 2, out.stderr
            assert f"{cfg}" in out.stderr and words in out.stderr, out.stderr
            assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("module", "env", "named"),
    [
        ("bot.cli", {"HOMELAB_BOT__PROT": "1"}, "HOMELAB_BOT__WEB__PORT"),
        ("bot.cli", {"HOMELAB_BOT__PROMETHEUS__ULR": "http://x"}, "HOMELAB_BOT__PROMETHEUS__URL"),
        ("exporter.cli", {"HOMELAB_EXPORTER__PROT": "1"}, "HOMELAB_EXPORTER__PORT"),
    ],
)
def test_misspelt_environment_variables_exit_2(
    module: str, env: dict[str, str], named: str
) -> None:
    """A misspelt HOMELAB_* variable is named with the nearest valid one, as a file key is."""
    (var,) = env
    for command in ("check-config", "run"):
        out = _run(module, command, env=env)
        assert out.returncode == 2, out.stderr
        assert f"environment variable {var}: no such setting" in out.stderr, out.stderr
        assert named in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[bot.prometheus]\nurl = "http://"\n', "bot.prometheus.url"),
        ('[exporter.influx]\nurl = "https:///write"\n', "exporter.influx.url"),
    ],
)
def test_urls_without_a_host_are_refused(tmp_path: Path, text: str, named: str) -> None:
    """url = "http://" is an error naming the setting, not a client failing later."""
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(text)
    module = "bot.cli" if named.startswith("bot") else "exporter.cli"
    out = _run(module, "--config", str(cfg), "check-config")
    assert out.returncode == 2 and named in out.stderr and "has no host" in out.stderr


def test_make_runs_settings_are_used_from_the_checkout_and_from_elsewhere(tmp_path: Path) -> None:
    """In a checkout with var/homelab.toml the CLI uses it; from another cwd, the same database.

    The file's relative database_path resolves against var/, so no second database (and no
    second audit log) appears in the directory the command runs from.
    """
    from homelab.stack import default_settings

    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    (checkout / "var").mkdir(parents=True)
    elsewhere.mkdir()
    settings = checkout / "var" / "homelab.toml"
    settings.write_text(default_settings(checkout / "var"))
    for args in (["--help"], ["do", "--help"]):
        helped = _run("bot.cli", *args, cwd=checkout)
        said = " ".join(helped.stdout.split())  # wrapped between words, never inside the path
        assert f"settings (without --config): {settings} (found in the search order)" in said
    shown = _run("bot.cli", "check-config", cwd=checkout)
    assert shown.returncode == 0 and f"# settings file: {settings}" in shown.stdout
    assert str(checkout / "var" / "bot" / "homelab.sqlite3") in shown.stdout
    first = _run("bot.cli", "audit", "verify", cwd=checkout)
    assert first.returncode == 0, first.stderr
    assert (checkout / "var" / "bot" / "homelab.sqlite3").is_file()
    # From elsewhere, by $HOMELAB_CONFIG: the same log (verify's own two rows came before).
    again = _run("bot.cli", "audit", "verify", cwd=elsewhere, env={"HOMELAB_CONFIG": str(settings)})
    assert again.returncode == 0 and "Head: row 3," in again.stdout, again.stdout
    assert list(elsewhere.iterdir()) == []
