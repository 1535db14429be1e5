"""`homelab-exporter run` that cannot start exits 2 naming the setting, as the bot does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _run_exporter(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    exe = Path(sys.executable).parent / "homelab-exporter"
    return subprocess.run(
        [str(exe), "--config", str(cfg), "run"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip


@pytest.fixture
def taken_port() -> object:
    """A loopback port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_taken_port_exits_2_naming_the_port_setting(tmp_path: Path, taken_port: int) -> None:
    """Port in use: exit 2, the address and HOMELAB_EXPORTER__PORT named, no traceback."""
    cfg = f'[exporter]\nlisten_address = "127.0.0.1"\nport = {taken_port}\n'
    out = _run_exporter(tmp_path, cfg)
    assert out.returncode == 2, out.stderr
    assert f"cannot listen on 127.0.0.1:{taken_port}: the port is taken" in out.stderr
    assert "[exporter] port (HOMELAB_EXPORTER__PORT)" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_address_of_another_host_exits_2_naming_listen_address(tmp_path: Path) -> None:
    """An address this host does not have (TEST-NET-1): exit 2 naming listen_address."""
    out = _run_exporter(tmp_path, '[exporter]\nlisten_address = "192.0.2.1"\nport = 9\n')
    assert out.returncode == 2, out.stderr
    assert "cannot listen on 192.0.2.1:9" in out.stderr
    assert "HOMELAB_EXPORTER__LISTEN_ADDRESS" in out.stderr and "Traceback" not in out.stderr


def test_an_unusable_spool_dir_exits_2_naming_spool_dir(tmp_path: Path, taken_port: int) -> None:
    """A spool directory that cannot be created (under a file): exit 2 naming spool_dir."""
    (tmp_path / "a-file").write_text("")
    out = _run_exporter(
        tmp_path,
        f'[exporter]\nlisten_address = "127.0.0.1"\nport = {taken_port}\n'
        '[exporter.influx]\nenabled = true\nspool_dir = "a-file/spool"\n',
    )
    assert out.returncode == 2, out.stderr
    assert f"cannot use the spool directory {tmp_path / 'a-file' / 'spool'}" in out.stderr
    assert "HOMELAB_EXPORTER__INFLUX__SPOOL_DIR" in out.stderr and "Traceback" not in out.stderr
