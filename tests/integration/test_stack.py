"""`make run` (homelab.stack) brings the whole stack up on loopback and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homelab.binaries import BinaryMissing, find_binary
from homelab.stack import COMPONENTS, ROOT, port_in_use
from tests.conftest import in_ci

pytestmark = pytest.mark.integration


def _wait_for_line(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if needle in text:
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} not printed in {timeout} s; output:\n{log.read_text()}")


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """The stack prints each URL, every component answers, and SIGINT leaves nothing running."""
    for service in ("prometheus", "alertmanager", "influxd"):
        try:
            find_binary(service)
        except BinaryMissing as exc:
            if in_ci():
                pytest.fail(str(exc))
            pytest.skip(str(exc))
    busy = [c.port for c in COMPONENTS if port_in_use(c.port)]
    assert not busy, f"ports {busy} are taken: stop `make run` before running the tests"
    var = tmp_path / "var"
    log = tmp_path / "stack.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homelab.stack", "--var", str(var)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        text = _wait_for_line(log, "[stack] all services are ready", proc, 120)
        for c in COMPONENTS:
            assert c.url in text
        assert (var / "prometheus").is_dir() and (var / "influxdb" / "meta").is_dir()
        # Run again while up: refused with a clear message naming the taken ports.
        again = subprocess.run(
            [sys.executable, "-m", "homelab.stack", "--check", "--var", str(var)],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert again.returncode == 1 and "9090 (prometheus)" in again.stderr
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(60)
    text = log.read_text()
    assert "[stack] stopped" in text
    leftovers = subprocess.run(["pgrep", "-af", str(var)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
    deadline = time.monotonic() + 10
    while any(port_in_use(c.port) for c in COMPONENTS) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [c.port for c in COMPONENTS if port_in_use(c.port)] == []
