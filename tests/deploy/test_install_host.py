"""docs/install.md's one install path (scripts/install-host), followed into a temporary root:
afterwards `systemd-analyze verify --root` accepts both units, and every file they name exists
with the mode their sandbox needs. Before it, verify fails: that is the fresh host."""

from __future__ import annotations

import os
import re
import shutil
import site
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-host"
INSTALL_DOC = ROOT / "docs" / "install.md"
UNITS = ("homelab-exporter.service", "homelab-bot.service")


def _systemd_units_dir() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "sysinit.target").exists():
            return candidate
    pytest.fail("systemd's own units (sysinit.target) are not installed: apt-get install systemd")


def fresh_host(root: Path) -> Path:
    """A root with systemd's own units only (what verify resolves dependencies against)."""
    target = root / "usr" / "lib" / "systemd" / "system"
    target.parent.mkdir(parents=True)
    shutil.copytree(_systemd_units_dir(), target, symlinks=True)
    return root


def verify(root: Path, units: list[Path]) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify --root=ROOT UNIT...`."""
    analyze = require_binary("systemd-analyze")
    return subprocess.run(
        [analyze, "verify", f"--root={root}", *map(str, units)],
        capture_output=True, text=True, timeout=120, check=False, cwd=root,
    )  # fmt: skip


def install_host(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/install-host --root ROOT.

    On the first run the virtualenv is made beforehand, seeing this test environment's
    packages through a .pth file, so pip installs only the project itself instead of unpacking
    every dependency again; the rest (pip install of the checkout, files, units, enable) is
    the script's own work.
    """
    venv = root / "opt" / "homelab" / "venv"
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        (lib,) = (venv / "lib").glob("python3*")
        (lib / "site-packages" / "test-environment.pth").write_text(
            "\n".join(site.getsitepackages()) + "\n"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["PYTHON"] = sys.executable
    return subprocess.run(
        ["bash", str(SCRIPT), "--root", str(root), *args],
        capture_output=True, text=True, timeout=600, check=False, env=env,
    )  # fmt: skip


def _service_values(unit: Path, key: str) -> list[str]:
    return [
        line.split("=", 1)[1]
        for line in unit.read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def test_units_fail_verify_on_a_fresh_host(tmp_path: Path) -> None:
    """As shipped, on a host where nothing is installed yet, verify rejects both units
    (ExecStart's /opt/homelab/venv does not exist): the check below is live."""
    root = fresh_host(tmp_path / "root")
    system = root / "etc" / "systemd" / "system"
    system.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(ROOT / "deploy" / "systemd" / unit, system / unit)
    proc = verify(root, [system / u for u in UNITS])
    assert proc.returncode != 0
    assert "/opt/homelab/venv/bin/homelab-bot is not executable" in proc.stderr


def test_documented_install_makes_both_units_verify(tmp_path: Path) -> None:
    """After the documented install, verify accepts both units with no message, both are
    enabled, and the settings, environment files and credential they name exist with the
    modes their sandbox needs (settings readable by the dynamic user, secrets root-only)."""
    doc = INSTALL_DOC.read_text()
    assert "scripts/install-host" in doc
    root = fresh_host(tmp_path / "root")
    proc = install_host(root)
    assert proc.returncode == 0, proc.stderr
    system = root / "etc" / "systemd" / "system"
    checked = verify(root, [system / u for u in UNITS])
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr
    for unit in UNITS:
        assert (system / unit).read_text() == (ROOT / "deploy" / "systemd" / unit).read_text()
        assert (system / "multi-user.target.wants" / unit).is_symlink(), f"{unit} not enabled"
        for env_file in _service_values(system / unit, "EnvironmentFile"):
            path = root / env_file.lstrip("-/")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, env_file
        for line in _service_values(system / unit, "Environment"):
            if line.startswith("HOMELAB_CONFIG="):
                config = root / line.split("=", 1)[1].lstrip("/")
                assert config.stat().st_mode & 0o004, "a dynamic user cannot read the settings"
        for cred in _service_values(system / unit, "LoadCredential"):
            source = root / cred.split(":", 1)[1].lstrip("/")
            assert stat.S_IMODE(source.stat().st_mode) == 0o600, cred
            assert re.fullmatch(r"[0-9a-f]{64}\n", source.read_text())
    # The installed programs accept the installed settings file.
    venv_bin = root / "opt" / "homelab" / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(root / "etc" / "homelab" / "homelab.toml")
    for program in ("homelab-exporter", "homelab-bot"):
        out = subprocess.run(
            [str(venv_bin / program), "check-config"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr


def test_install_again_keeps_settings_and_secrets(tmp_path: Path) -> None:
    """`--exporter-only` installs only the exporter; running the install again (adding the
    bot) keeps the edited settings file and a token already in place."""
    root = fresh_host(tmp_path / "root")
    system = root / "etc" / "systemd" / "system"
    assert install_host(root, "--exporter-only").returncode == 0
    assert sorted(p.name for p in system.glob("*.service")) == ["homelab-exporter.service"]
    assert (root / "etc" / "sysusers.d" / "homelab-exporter.conf").exists(), "install-service ran"
    settings = root / "etc" / "homelab" / "homelab.toml"
    settings.write_text("[exporter]\nport = 9200\n")
    token = root / "etc" / "homelab" / "secrets" / "alertmanager-webhook-token"
    assert not token.parent.exists(), "--exporter-only makes no directory for the bot's secrets"
    token.parent.mkdir(mode=0o700)
    token.write_text("a-token-alertmanager-already-has\n")
    proc = install_host(root)
    assert proc.returncode == 0, proc.stderr
    assert settings.read_text() == "[exporter]\nport = 9200\n"
    assert token.read_text() == "a-token-alertmanager-already-has\n"
    assert sorted(p.name for p in system.glob("*.service")) == sorted(UNITS)


def test_one_install_path_referenced_not_copied() -> None:
    """docs/install.md is the one place that installs the units; the README, the exporter,
    bot and setup guides and the units' comments point to it instead of repeating it."""
    for doc in ("README.md", "docs/exporter.md", "docs/bot.md", "docs/monitoring-setup.md"):
        text = (ROOT / doc).read_text()
        assert "install.md" in text, f"{doc} does not point to docs/install.md"
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc != INSTALL_DOC:
            assert "systemctl enable" not in doc.read_text(), f"{doc.name} repeats the install"
    for unit in UNITS:
        assert "docs/install.md" in (ROOT / "deploy" / "systemd" / unit).read_text()
