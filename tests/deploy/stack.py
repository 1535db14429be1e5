"""The monitoring stack as deployed, on loopback: OUR exporter (writing to a real InfluxDB) and
the real bot, scraped by a real Prometheus that runs deploy/prometheus.yml with rules/ loaded
and a real Alertmanager.

The exporter reads this host's /proc and /sys through an overlay (`host_overlay`) that adds
what a small VM lacks and a homelab host has: swap in use, one temperature sensor and one
read-only file system, so that every rule and panel has something to read.

Example::

    with running_stack(tmp_path) as stack:
        stack.prom.query("instance:node_cpu_busy:ratio")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import FixtureGroup
from tests.harness.bot import Bot
from tests.harness.exporter import Exporter
from tests.harness.services import (
    Alertmanager,
    InfluxDB,
    Prometheus,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus.yml"

# What the overlay adds to this host (values a test can check against).
SWAP_TOTAL_KIB = 2 * 1024 * 1024
SWAP_FREE_KIB = 1536 * 1024  # a quarter used
TEMPERATURE_MILLI_C = 47000
READONLY_DEVICE = "/dev/homelab-ro"
# The exporter's `hostname`, unlike any kernel's nodename: what reads the host's name from the
# `host` label (dashboards, the bot) is then told apart from what reads the nodename.
STACK_HOSTNAME = "stack-host"


def deploy_config(sd_dir: Path, bot: str, alertmanager: str) -> dict[str, Any]:
    """deploy/prometheus.yml with this test's addresses, absolute paths and 1 s intervals.

    Jobs, relabelling, rule files and file_sd globs are kept as they are in the file.
    """
    cfg: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    cfg["rule_files"] = [str((CONFIG.parent / p).resolve()) for p in cfg["rule_files"]]
    targets = {"homelab-bot": bot, "alertmanager": alertmanager}
    for job in cfg["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            # the same layout under sd_dir: file_sd/x.yml -> sd_dir/x.yml, file_sd/local/...
            sd["files"] = [str(sd_dir / Path(f).relative_to("file_sd")) for f in sd["files"]]
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    (sd_dir / "local").mkdir(parents=True, exist_ok=True)
    cfg["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    return cfg


def host_overlay(root: Path) -> tuple[Path, Path]:
    """(procfs, sysfs) for the exporter: this host's, plus swap in use, a temperature sensor
    and a read-only ext4 mount (on a real directory, so statfs works)."""
    procfs, sysfs = root / "proc", root / "sys"
    procfs.mkdir(parents=True)
    for name in os.listdir("/proc"):
        if name.isdigit() or name in ("meminfo", "self", "thread-self"):
            continue
        (procfs / name).symlink_to(f"/proc/{name}")
    # /proc/self must stay the reader's own: link through the real one
    (procfs / "self").symlink_to("/proc/self")
    meminfo = []
    for line in Path("/proc/meminfo").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key == "SwapTotal":
            line = f"SwapTotal:      {SWAP_TOTAL_KIB} kB"
        elif key == "SwapFree":
            line = f"SwapFree:       {SWAP_FREE_KIB} kB"
        meminfo.append(line)
    (procfs / "meminfo").write_text("\n".join(meminfo) + "\n")
    readonly = root / "readonly-data"
    readonly.mkdir()
    (procfs / "1").mkdir()
    (procfs / "1" / "mounts").write_text(
        Path("/proc/1/mounts").read_text()
        + f"{READONLY_DEVICE} {readonly} ext4 ro,relatime 0 0\n"
    )
    hwmon = sysfs / "class" / "hwmon" / "hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_text("coretemp\n")
    (hwmon / "temp1_input").write_text(f"{TEMPERATURE_MILLI_C}\n")
    (hwmon / "temp1_label").write_text("Package id 0\n")
    (sysfs / "class" / "net").symlink_to("/sys/class/net")
    return procfs, sysfs


@dataclass
class Stack:
    """The started services."""

    prom: Prometheus
    exporter: Exporter
    bot: Bot
    alertmanager: Alertmanager
    influxdb: InfluxDB


def start_stack(
    start: Callable[..., Any], workdir: Path, extra_rule_files: tuple[Path, ...] = ()
) -> Stack:
    """Start every service with `start(cls, **kw)` and wait until every job has been scraped
    a few times, the recording rules have values and the exporter has written to InfluxDB."""
    influxdb: InfluxDB = start(InfluxDB)
    procfs, sysfs = host_overlay(workdir / "host")
    exporter: Exporter = start(
        Exporter,
        influx={"enabled": True, "url": influxdb.url, "interval_seconds": 1},
        procfs_path=str(procfs),
        sysfs_path=str(sysfs),
        hostname=STACK_HOSTNAME,
    )
    bot: Bot = start(Bot)
    bot.command("whoami")  # allowed
    bot.command("whoami")  # refused: the meta bucket holds one
    alertmanager: Alertmanager = start(Alertmanager)
    sd_dir = workdir / "file_sd"
    sd_dir.mkdir()
    (sd_dir / "homelab-exporter.yml").write_text(f"- targets: ['{exporter.address}']\n")
    cfg = deploy_config(sd_dir, bot.address, alertmanager.address)
    cfg["rule_files"] += [str(p) for p in extra_rule_files]
    prom: Prometheus = start(Prometheus, config=cfg)
    for job in cfg["scrape_configs"]:
        if job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [prom.address]}]
    prom.reload()
    # rate() and increase() need two samples of every job, the self-scrape included
    prom.wait_for('count(count_over_time(up[1m]) >= 3) >= 4', bool)
    prom.wait_for('count by (outcome) (increase(homelab_bot_commands_total[1h]))',
                  lambda r: len(r) == 2)
    prom.wait_for("instance:node_cpu_busy:ratio", bool)
    prom.wait_for("homelab_exporter_influx_last_success_timestamp_seconds", bool)
    return Stack(prom, exporter, bot, alertmanager, influxdb)


@contextlib.contextmanager
def running_stack(workdir: Path, extra_rule_files: tuple[Path, ...] = ()) -> Iterator[Stack]:
    """The stack for a block (e.g. a module-scoped fixture); everything stops at the end."""
    starter = FixtureGroup(workdir)
    try:
        yield start_stack(starter, workdir, extra_rule_files)
    finally:
        starter.stop_all()
