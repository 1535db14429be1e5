"""`make run` (homelab.stack) brings the whole stack up on loopback and Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from homelab.binaries import BinaryMissing, find_binary
from homelab.stack import COMPONENTS, PORTS, ROOT, port_in_use
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


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait_for_query(expr: str, timeout: float) -> None:
    url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _get_json(url)["data"]["result"]:
            return
        time.sleep(1)
    raise AssertionError(f"{expr} never held in {timeout} s")


def _wait_for_influx(q: str, timeout: float) -> None:
    url = "http://127.0.0.1:8086/query?" + urllib.parse.urlencode({"q": q, "db": "telegraf"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _get_json(url)["results"][0].get("series"):
            return
        time.sleep(1)
    raise AssertionError(f"InfluxDB never answered {q!r} with data in {timeout} s")


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """The stack prints each URL, the pieces work together, and SIGINT leaves nothing running."""
    for service in ("prometheus", "alertmanager", "influxd"):
        try:
            find_binary(service)
        except BinaryMissing as exc:
            if in_ci():
                pytest.fail(str(exc))
            pytest.skip(str(exc))
    busy = [port for port in PORTS.values() if port_in_use(port)]
    if busy:
        # make run binds fixed ports; on a developer's machine they may be in use.
        reason = f"ports {busy} are taken (make run or a system service): this test needs them"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
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
        # Prometheus scrapes the exporter and the bot through deploy/prometheus.yml.
        _wait_for_query('up{job="homelab-exporter"} == 1', timeout=60)
        _wait_for_query('up{job="homelab-bot"} == 1', timeout=60)
        # The exporter's points reach InfluxDB in Telegraf's schema.
        _wait_for_influx("SELECT count(usage_idle) FROM cpu WHERE cpu = 'cpu-total'", timeout=60)
        # The bot's console face answers /status from the live Prometheus.
        env = {**os.environ, "HOMELAB_CONFIG": str(var / "homelab.toml")}
        status = subprocess.run(
            [str(Path(sys.executable).parent / "homelab-bot"), "do", "status"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert "Fleet: 1 host up" in status.stdout, status.stdout
        assert socket.gethostname() in status.stdout
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
