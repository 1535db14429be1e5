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
import pty
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import _Starter
from tests.harness.exporter import Exporter, toml_table
from tests.harness.services import (
    _RUNNING,
    READY_TIMEOUT,
    Alertmanager,
    InfluxDB,
    Prometheus,
    Service,
    ServiceError,
    _die_with_parent,
    free_port,
    http,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus.yml"

# What the overlay adds to this host (values a test can check against).
SWAP_TOTAL_KIB = 2 * 1024 * 1024
SWAP_FREE_KIB = 1536 * 1024  # a quarter used
TEMPERATURE_MILLI_C = 47000
READONLY_DEVICE = "/dev/homelab-ro"


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
            sd["files"] = [str(sd_dir / Path(f).name) for f in sd["files"]]
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
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


class Bot(Service):
    """`homelab-bot run` without a Discord token: the web face (/metrics) and the console face,
    whose terminal is a pty this object writes commands to (`command()`).

    The web port comes from HOMELAB_BOT__WEB__PORT; the rest from a settings file in the
    working directory. The meta command class (whoami) allows one command an hour, so a
    second `whoami` is refused: both outcomes of homelab_bot_commands_total then exist.
    """

    name = "homelab-bot"
    binary = ""

    def __init__(self, workdir: Path) -> None:
        # Service.__init__ looks the binary up among the Debian ones; ours is in the venv.
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc = None
        venv_script = Path(sys.executable).parent / "homelab-bot"
        self.exe = str(venv_script) if venv_script.exists() else shutil.which("homelab-bot") or ""
        self.config_path = self.workdir / "homelab.toml"
        self.console_fd = -1

    def prepare(self) -> None:
        """Write the settings file."""
        bucket = {"capacity": 5, "per_seconds": 60}
        self.config_path.write_text(toml_table("bot", {
            "database_path": str(self.workdir / "bot.sqlite3"),
            "image_dir": str(self.workdir / "images"),
            "web": {"listen_address": "127.0.0.1"},
            "rate_limits": {"classes": {
                "meta": {"capacity": 1, "per_seconds": 3600},
                "query": bucket,
                "admin": bucket,
            }},
        }))

    def argv(self) -> list[str]:
        """`homelab-bot --config FILE run`."""
        if not self.exe:
            raise ServiceError("homelab-bot is not installed: run `pip install -e .[dev]`")
        return [self.exe, "--config", str(self.config_path), "run"]

    def ready_url(self) -> str:
        """Answers 200 once serving."""
        return f"{self.url}/healthz"

    def start(self, timeout: float = READY_TIMEOUT) -> Bot:
        """Start with a pty as the terminal (the console face needs one); wait for /healthz."""
        self.prepare()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_BOT__")}
        env["HOMELAB_BOT__WEB__PORT"] = str(self.port)
        master, slave = pty.openpty()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), cwd=self.workdir, stdin=slave, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, preexec_fn=_die_with_parent,
            )
        os.close(slave)
        self.console_fd = master
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"homelab-bot exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            with contextlib.suppress(OSError):
                if http("GET", self.ready_url(), timeout=2)[0] == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"homelab-bot was not ready after {timeout:.0f} s:\n" + self.log_tail())

    def command(self, line: str) -> None:
        """Type one line at the console face."""
        os.write(self.console_fd, line.encode() + b"\n")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process group and close the terminal."""
        super().stop(timeout)
        if self.console_fd >= 0:
            os.close(self.console_fd)
            self.console_fd = -1


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
    starter = _Starter(workdir)
    try:
        yield start_stack(starter, workdir, extra_rule_files)
    finally:
        starter.stop_all()
