"""scripts/install-services: a no-op when everything is there, exact instructions otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-services"


def test_prints_what_to_install_when_it_cannot_install() -> None:
    """Without the binaries and without root it names every missing package and exits 1."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - readable by the unprivileged user the script runs as
        _check_instructions(Path(tmp))


def _check_instructions(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "id", "cat"):
        found = shutil.which(tool)
        assert found
        (bindir / tool).symlink_to(found)
    # The unprivileged user may not reach the clone (under a 0700 home or mktemp -d): run a
    # copy of the script from this directory, which it can read.
    script = tmp_path / SCRIPT.name
    shutil.copyfile(SCRIPT, script)
    script.chmod(0o755)
    # A non-root user cannot apt-get install: the script must explain instead.
    env = {"PATH": str(bindir), "HOME": str(tmp_path)}
    drop = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}
    out = subprocess.run(
        [str(bindir / "bash"), str(script)],
        env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path, **drop,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    for package in (
        "prometheus",
        "prometheus-alertmanager",
        "influxdb",
        "prometheus-node-exporter",
    ):
        assert package in out.stderr
    assert "apt-get install" in out.stderr


def test_noop_when_binaries_present(tmp_path: Path) -> None:
    """With every binary on PATH it installs nothing and succeeds."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in (
        "prometheus",
        "promtool",
        "alertmanager",
        "amtool",
        "influxd",
        "node_exporter",
        "systemd-analyze",
        "chromium",
    ):
        stub = bindir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    (bindir / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    env = {"PATH": str(bindir)}
    out = subprocess.run(
        [str(bindir / "bash"), str(SCRIPT)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
