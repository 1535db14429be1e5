"""The harness itself: logs on failure, no orphans after failure or a killed test run, and
a missing binary skips outside CI but fails under CI=true."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.services import NodeExporter

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "tests/harness/example_service.py"


def _pytest(basetemp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", EXAMPLE, "-p", "no:cacheprovider", "-s",
         f"--basetemp={basetemp}", "-o", "addopts=-ra"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"


def test_failing_test_gets_service_log_and_leaves_no_process(tmp_path: Path) -> None:
    """A failing test's report carries the service log, and the service is stopped after."""
    out = _pytest(tmp_path / "bt", dict(os.environ))
    assert out.returncode == 1, out.stdout
    assert "deliberate failure" in out.stdout
    assert "node_exporter log" in out.stdout
    pid = int(re.search(r"NODE_EXPORTER_PID=(\d+)", out.stdout).group(1))  # type: ignore[union-attr]
    assert not _alive(pid)


def test_killed_test_process_takes_its_services_along(tmp_path: Path) -> None:
    """SIGKILL of the process that started a service kills the service too (no orphan)."""
    code = (
        "import sys, time; from pathlib import Path; "
        "from tests.harness.services import NodeExporter; "
        f"n = NodeExporter(Path({str(tmp_path)!r})).start(); "
        "print(n.proc.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


@pytest.mark.parametrize(("ci", "word"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_binary_skips_outside_ci_and_fails_in_ci(
    tmp_path: Path, ci: str, word: str
) -> None:
    """Without node_exporter on PATH: skip naming the package, or fail when CI=true."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(Path(sys.executable).parent)
    env["HARNESS_EXAMPLE_PASS"] = "1"
    if ci:
        env["CI"] = ci
    out = _pytest(tmp_path / "bt", env)
    assert word in out.stdout, out.stdout
    assert (out.returncode != 0) == bool(ci)
    assert "prometheus-node-exporter" in out.stdout


def test_restart_keeps_port_and_data(tmp_path: Path) -> None:
    """restart() brings a service back on the same address (used by outage tests)."""
    node = NodeExporter(tmp_path).start()
    try:
        before = node.address
        node.restart()
        assert node.address == before and node.running()
    finally:
        node.stop()
    assert not node.running()


def test_a_port_taken_before_the_bind_is_retried_on_new_ports(tmp_path: Path) -> None:
    """On a busy machine a free port can be taken between free_port() and the service's bind
    (InfluxDB's "bind: address already in use"): the start goes on with new ports, and a
    service whose port was handed out (an Alertmanager peer) is not moved."""
    import socket

    from tests.harness.services import InfluxDB

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        influx = InfluxDB(tmp_path / "influx")
        influx.port = taken
        try:
            influx.start()
            assert influx.port != taken and influx.running()
            assert "address already in use" in influx.log_path.read_text()
        finally:
            influx.stop()
        from tests.harness.services import Alertmanager, Prometheus

        assert Prometheus(tmp_path / "p").fresh_ports()
        assert Alertmanager(tmp_path / "a").fresh_ports()
        assert not Alertmanager(tmp_path / "c", cluster=True).fresh_ports()  # peers know it
        node = NodeExporter(tmp_path / "node")
        node.port = taken
        node.fresh_ports = lambda: False  # type: ignore[method-assign]
        with pytest.raises(Exception, match="exited with code"):
            node.start()
