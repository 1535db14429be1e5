"""deploy/systemd units: systemd accepts them and they carry the usual hardening."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.deploy.envcheck import unknown_settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
VENV_BIN = "/opt/homelab/venv/bin/"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    # What DynamicUser= implies, set explicitly so that a unit with a static User= keeps it.
    "ProtectHome": None,
    "RemoveIPC": "yes",
}
# The bot runs as a dynamic user; the exporter as the system user install-service creates
# (its spool keeps one owner across restarts and upgrades, exporter/install.py).
USERS = {
    "homelab-bot": {"DynamicUser": "yes"},
    "homelab-exporter": {"User": "homelab-exporter", "Group": "homelab-exporter"},
}


def _service(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser["Service"]


def test_one_unit_per_program() -> None:
    """A unit for the exporter and one for the bot, each running its installed command's `run`
    (without a command the programs exit 2, tests/deploy/test_entry_points.py runs them)."""
    assert [u.name for u in UNITS] == ["homelab-bot.service", "homelab-exporter.service"]
    for unit in UNITS:
        assert _service(unit)["ExecStart"] == VENV_BIN + unit.stem + " run"


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_is_hardened(unit: Path) -> None:
    """Each unit sets the usual systemd sandboxing options."""
    service = _service(unit)
    for key, value in {**HARDENING, **USERS[unit.stem]}.items():
        if value is None:
            assert service.get(key) in ("yes", "read-only"), f"{unit.name}: {key} expected"
        else:
            assert service.get(key) == value, f"{unit.name}: {key}={value} expected"
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == unit.stem


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify_accepts_unit(unit: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing (unknown keys, bad values) for the unit."""
    analyze = require_binary("systemd-analyze")
    # verify insists that ExecStart exists: point it at this checkout's installed command.
    installed = Path(shutil.which(unit.stem) or ROOT / ".venv" / "bin" / unit.stem)
    assert installed.exists(), f"{unit.stem} is not installed in the virtualenv"
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(VENV_BIN + unit.stem, str(installed)))
    proc = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_environment_names_real_settings(unit: Path) -> None:
    """Every HOMELAB_* variable a unit sets is a setting of the program it starts (the one
    other is matplotlib's MPLCONFIGDIR, where the bot keeps its font cache)."""
    lines = [v for k, v in _items(unit) if k == "Environment"]
    keys = [line.split("=", 1)[0] for line in lines]
    keys = [k for k in keys if not (k == "MPLCONFIGDIR" and unit.stem == "homelab-bot")]
    assert keys and unknown_settings(keys) == []
    assert all(
        k.startswith(("HOMELAB_CONFIG", f"HOMELAB_{unit.stem.split('-')[1].upper()}__"))
        for k in keys
    )


def _items(unit: Path) -> list[tuple[str, str]]:
    """(key, value) of every line, repeated keys kept."""
    return [
        tuple(line.split("=", 1))  # type: ignore[misc]
        for line in unit.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    ]
