"""deploy/file_sd: the shipped targets are `make run`'s alone; a user's hosts live in local/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from homelab.stack import COMPONENTS

ROOT = Path(__file__).resolve().parents[2]
FILE_SD = ROOT / "deploy" / "file_sd"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip


def test_shipped_file_sd_lists_only_what_make_run_needs() -> None:
    """The tracked target files hold `make run`'s exporter and nothing else."""
    exporter = next(c for c in COMPONENTS if c.name == "exporter")
    shipped = yaml.safe_load((FILE_SD / "homelab-exporter.yml").read_text())
    assert [t for group in shipped for t in group["targets"]] == [f"127.0.0.1:{exporter.port}"]
    assert yaml.safe_load((FILE_SD / "node.yml").read_text()) == []
    tracked = _git("ls-files", "deploy/file_sd").stdout.split()
    assert sorted(tracked) == [
        "deploy/file_sd/homelab-exporter.yml", "deploy/file_sd/local/README.md",
        "deploy/file_sd/node.yml",
    ]  # fmt: skip


def test_a_users_host_files_are_ignored_by_git_and_globbed_by_prometheus() -> None:
    """deploy/file_sd/local/*.yml is ignored by git, and each job's file_sd globs reach it."""
    for name in ("homelab-exporter.yml", "node.yml", "homelab-exporter-garage.yml"):
        proc = _git("check-ignore", "-q", f"deploy/file_sd/local/{name}")
        assert proc.returncode == 0, f"git does not ignore deploy/file_sd/local/{name}"
    assert _git("check-ignore", "-q", "deploy/file_sd/local/README.md").returncode == 1
    cfg = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    globs = {
        job["job_name"]: [f for sd in job.get("file_sd_configs", []) for f in sd["files"]]
        for job in cfg["scrape_configs"]
    }
    assert "file_sd/local/homelab-exporter*.yml" in globs["homelab-exporter"]
    assert "file_sd/local/node*.yml" in globs["node"]
