"""scripts/check-orphans finds a leftover test process by command line or by marker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-orphans"


def _check(marker: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), marker], capture_output=True, text=True, timeout=60)


def test_finds_process_carrying_the_session_marker(tmp_path: Path) -> None:
    """A process whose environment carries HOMELAB_TEST_SESSION=<dir> is reported."""
    marker = str(tmp_path / "session")
    env = {**os.environ, "HOMELAB_TEST_SESSION": marker}
    sleeper = subprocess.Popen(["sleep", "30"], env=env)
    try:
        out = _check(marker)
        assert out.returncode == 1
        assert f"{sleeper.pid} sleep 30" in out.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _check(marker).returncode == 0


def test_finds_process_naming_the_temp_dir(tmp_path: Path) -> None:
    """A process whose command line names the test temp dir is reported."""
    marker = str(tmp_path / "bt")
    sleeper = subprocess.Popen(["sh", "-c", f"sleep 30; echo {marker}"])
    try:
        assert _check(marker).returncode == 1
    finally:
        sleeper.kill()
        sleeper.wait()
