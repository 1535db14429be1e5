"""Fixtures of the exporter's unit tests: real psutil namedtuples with fixed values."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

try:  # psutil >= 7.1 keeps its namedtuples here
    from psutil._ntuples import scputimes, sdiskio, snetio, suser
except ImportError:  # pragma: no cover - older psutil
    from psutil._common import snetio, suser  # type: ignore[no-redef]
    from psutil._pslinux import scputimes, sdiskio  # type: ignore[no-redef,attr-defined]

FIXTURES = Path(__file__).parent / "fixtures"

CPU0 = scputimes(100.0, 1.0, 20.0, 800.0, 5.0, 0.5, 0.25, 0.125, 0.0, 0.0)
CPU1 = scputimes(200.0, 2.0, 40.0, 700.0, 6.0, 1.0, 0.5, 0.25, 3.0, 0.5)
DISKS = {
    "vda": sdiskio(10, 20, 4096, 8192, 30, 40, 1, 2, 50),
    "vda1": sdiskio(1, 2, 512, 1024, 3, 4, 0, 0, 5),
    "loop0": sdiskio(0, 0, 0, 0, 0, 0, 0, 0, 0),
    "nvme0n1": sdiskio(100, 200, 40960, 81920, 300, 400, 10, 20, 500),
}
NICS = {
    "eth0": snetio(1000, 2000, 10, 20, 1, 2, 3, 4),
    "lo": snetio(50, 50, 5, 5, 0, 0, 0, 0),
    "ifb0": snetio(0, 0, 0, 0, 0, 0, 0, 0),
}

USERS = [  # two sessions of alice, one of bob
    suser("alice", "pts/0", "10.0.0.2", 1700000000.0, 4100),
    suser("alice", "pts/1", "10.0.0.2", 1700000100.0, 4200),
    suser("bob", "tty1", "", 1700000200.0, 900),
]


def fake_psutil(**overrides: Any) -> SimpleNamespace:
    """A psutil stand-in whose calls return the fixed real namedtuples above."""
    calls: dict[str, Any] = {
        "cpu_times": lambda percpu=False: [CPU0, CPU1] if percpu else CPU0,
        "disk_io_counters": lambda perdisk=False, nowrap=True: dict(DISKS),
        "net_io_counters": lambda pernic=False, nowrap=True: dict(NICS),
        "users": lambda: list(USERS),
    }
    calls.update(overrides)
    return SimpleNamespace(**calls)


@pytest.fixture
def procfs(tmp_path: Path) -> Path:
    """A copy of the checked-in /proc files (captured from a Debian 12 VM)."""
    dest = tmp_path / "proc"
    shutil.copytree(FIXTURES / "proc", dest)
    return dest


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """A copy of the checked-in /sys files."""
    dest = tmp_path / "sys"
    shutil.copytree(FIXTURES / "sys", dest)
    return dest


@pytest.fixture(autouse=True)
def _keep_psutil_procfs() -> Any:
    """Sampler(ps=psutil) sets psutil.PROCFS_PATH; restore it after each test."""
    saved = psutil.PROCFS_PATH
    yield
    psutil.PROCFS_PATH = saved
