"""`make run` (homelab.stack) brings the whole stack up on loopback and Ctrl-C stops all of it."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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


CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def private_loopback() -> list[str] | None:
    """A command prefix running a program in a network namespace of its own, loopback up, so
    make run's fixed ports are free there whatever runs on this machine (another checkout's
    `make run`, a system Prometheus); None where this process may not make one (not root)."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip or os.geteuid() != 0:
        return None
    probe = subprocess.run([unshare, "--net", "--", ip, "link", "set", "lo", "up"],
                           capture_output=True, timeout=10, check=False)
    if probe.returncode != 0:
        return None
    return [unshare, "--net", "--", "sh", "-c", f'"{ip}" link set lo up && exec "$@"', "sh"]


def _namespace_of(proc: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """An open descriptor of `proc`'s network namespace, once it has left ours."""
    ours = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != ours:
                return os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY)
        time.sleep(0.05)
    raise AssertionError("make run never entered its own network namespace")


def in_namespace(ns_fd: int | None, fn: Callable[[], T]) -> T:
    """fn() in a thread that joined the network namespace `ns_fd` (None: ours): the sockets
    it opens and the processes it starts live there."""
    if ns_fd is None:
        return fn()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(ns_fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into make run's network namespace")
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """The stack prints each URL, the pieces work together, and SIGINT leaves nothing running.

    As root it runs in a network namespace of its own, so the fixed ports it binds are free
    even while `make run` is up in another checkout; otherwise it needs them free here."""
    for service in ("prometheus", "alertmanager", "influxd"):
        try:
            find_binary(service)
        except BinaryMissing as exc:
            if in_ci():
                pytest.fail(str(exc))
            pytest.skip(str(exc))
    prefix = private_loopback()
    busy = [port for port in PORTS.values() if port_in_use(port)]
    if busy and prefix is None:
        # make run binds fixed ports; on a developer's machine they may be in use.
        reason = f"ports {busy} are taken (make run or a system service): this test needs them"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    var = tmp_path / "var"
    log = tmp_path / "stack.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "homelab.stack", "--var", str(var)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ns_fd = _namespace_of(proc) if prefix else None

    def check_running() -> None:
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

    def ports_left() -> list[int]:
        deadline = time.monotonic() + 10
        while any(port_in_use(c.port) for c in COMPONENTS) and time.monotonic() < deadline:
            time.sleep(0.2)
        return [c.port for c in COMPONENTS if port_in_use(c.port)]

    try:
        in_namespace(ns_fd, check_running)
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(60)
    text = log.read_text()
    assert "[stack] stopped" in text
    leftovers = subprocess.run(["pgrep", "-af", str(var)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
    try:
        assert in_namespace(ns_fd, ports_left) == []
    finally:
        if ns_fd is not None:
            os.close(ns_fd)
