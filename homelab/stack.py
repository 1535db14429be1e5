"""`make run`: the whole stack on this machine's loopback, from the services' own binaries.

Prometheus, Alertmanager and InfluxDB run with the project's configs (deploy/) and keep their
data under ./var/; the exporter and the bot run beside them. honcho supervises the processes
(deploy/Procfile): their output is interleaved with a name prefix, and Ctrl-C (SIGINT) or
SIGTERM stops them all. Running it again reuses ./var/.

Example::

    python -m homelab.stack            # what `make run` does
    python -m homelab.stack --check    # only check binaries, ports and write var/ files
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from homelab.binaries import BinaryMissing, find_binary

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Component:
    """One process of the stack: where it listens and how to tell it is ready."""

    name: str
    port: int
    ready_path: str
    what: str

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"


COMPONENTS: tuple[Component, ...] = (
    Component("prometheus", 9090, "/-/ready", "Prometheus (rules from rules/)"),
    Component("alertmanager", 9093, "/-/ready", "Alertmanager (routing from deploy/)"),
    Component("influxdb", 8086, "/ping", "InfluxDB 1.x (database telegraf)"),
    Component("exporter", 9101, "/metrics", "homelab-exporter (this host's metrics)"),
    Component("bot", 9102, "/healthz", "homelab-bot (web face: /healthz, /metrics, webhook)"),
)


class StackError(Exception):
    """The stack cannot start; the message says what to do."""


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def influx_config(var: Path, port: int, rpc_port: int) -> str:
    """InfluxDB 1.x config: loopback binds, data under var/influxdb."""
    d = (var / "influxdb").resolve()
    return f"""# Written by `make run` (homelab.stack); edits are overwritten.
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{d / "meta"}"
[data]
  dir = "{d / "data"}"
  wal-dir = "{d / "wal"}"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
"""


def prepare(var: Path) -> dict[str, str]:
    """Create var/, the generated configs and secrets; return the environment for honcho."""
    binaries: dict[str, str] = {}
    missing: list[BinaryMissing] = []
    for service in ("prometheus", "alertmanager", "influxd"):
        try:
            binaries[service] = find_binary(service)
        except BinaryMissing as exc:
            missing.append(exc)
    if missing:
        packages = " ".join(sorted({m.package for m in missing}))
        raise StackError(
            "\n".join(str(m) for m in missing)
            + f"\nInstall them with: scripts/install-services  (or: apt-get install {packages})"
        )
    busy = [c for c in COMPONENTS if port_in_use(c.port)]
    if busy:
        raise StackError(
            "these ports on 127.0.0.1 are already taken: "
            + ", ".join(f"{c.port} ({c.name})" for c in busy)
            + ". Is `make run` already running? Stop it (Ctrl-C) or the program on that port."
        )
    for sub in ("prometheus", "alertmanager", "influxdb", "exporter", "bot", "secrets"):
        (var / sub).mkdir(parents=True, exist_ok=True)
    (var / "influxdb.conf").write_text(influx_config(var, 8086, 8088))
    token = var / "secrets" / "alertmanager-webhook-token"
    if not token.exists():
        token.write_text(secrets.token_urlsafe(32) + "\n")
        token.chmod(0o600)
    settings = var / "homelab.toml"
    if not settings.exists():
        settings.write_text(default_settings(var))
    env = dict(os.environ)
    env.update(
        {
            "HOMELAB_VAR": str(var),
            "HOMELAB_CONFIG": str(settings),
            "PROMETHEUS_BIN": binaries["prometheus"],
            "ALERTMANAGER_BIN": binaries["alertmanager"],
            "INFLUXD_BIN": binaries["influxd"],
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def default_settings(var: Path) -> str:
    """The settings file `make run` uses, written once; the user may edit it afterwards."""
    return f"""# Settings for `make run`, written on first run; edit freely (see
# deploy/homelab.example.toml for every setting). Environment variables HOMELAB_* override.

[exporter]
listen_address = "127.0.0.1"
port = 9101

[exporter.influx]
enabled = true
url = "http://127.0.0.1:8086"
api = "v1"
database = "telegraf"
spool_dir = "{var / "exporter" / "spool"}"

[bot]
database_path = "{var / "bot" / "homelab.sqlite3"}"

[bot.prometheus]
url = "http://127.0.0.1:9090"

[bot.web]
listen_address = "127.0.0.1"
port = 9102
"""


def banner(var: Path) -> str:
    """What runs where."""
    lines = ["HomeLab stack on loopback (Ctrl-C stops everything):"]
    for c in COMPONENTS:
        lines.append(f"  {c.name:<13} {c.url:<24} {c.what}")
    lines.append(f"  data and generated configs: {var}/  settings: {var / 'homelab.toml'}")
    return "\n".join(lines)


def wait_ready(timeout: float, stop: threading.Event) -> list[str]:
    """Poll every component until ready or timeout; return the names still not ready."""
    pending = list(COMPONENTS)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline and not stop.is_set():
        for c in list(pending):
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(c.url + c.ready_path, timeout=1) as resp,  # noqa: S310
            ):
                if resp.status < 300:
                    pending.remove(c)
        stop.wait(0.5)
    return [c.name for c in pending]


def _announce(stop: threading.Event) -> None:
    not_ready = wait_ready(90, stop)
    if stop.is_set():
        return
    if not_ready:
        print(f"[stack] not ready after 90 s: {', '.join(not_ready)} (see its log lines above)")
    else:
        print("[stack] all services are ready:", ", ".join(c.url for c in COMPONENTS), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Start the stack under honcho and wait; Ctrl-C or SIGTERM stops it."""
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--var", default=str(ROOT / "var"), help="state directory (./var)")
    parser.add_argument("--check", action="store_true", help="prepare and check, start nothing")
    args = parser.parse_args(argv)
    var = Path(args.var).resolve()
    try:
        env = prepare(var)
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    print(banner(var), flush=True)
    if args.check:
        return 0
    honcho = [
        sys.executable, "-m", "honcho", "start",
        "-f", str(ROOT / "deploy" / "Procfile"),
        "-d", str(ROOT),
        "-e", os.devnull,
    ]  # fmt: skip
    proc = subprocess.Popen(honcho, cwd=ROOT, env=env, start_new_session=True)
    stop = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    threading.Thread(target=_announce, args=(stop,), daemon=True).start()
    code = proc.wait()
    stop.set()
    # honcho stops its children; make sure nothing of the group outlives it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    print("[stack] stopped", flush=True)
    return 0 if stop.is_set() else code


if __name__ == "__main__":
    raise SystemExit(main())
