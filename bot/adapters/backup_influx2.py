"""InfluxDB 2.x in backups: `influx backup` when the server is 2.x and the 2.x CLI is present.

InfluxDB 1.x is backed up over its RPC port with `influxd backup -portable`
(bot.adapters.backup). A 2.x server has no RPC port: its backup goes through the HTTP API,
with the `influx` CLI of 2.x and an operator token. Which one a server is comes from the
`X-Influxdb-Version` header of `/ping` (`1.6.7`, `v2.7.4`). Debian's `influx` is the 1.x
shell, which has no `backup`: the CLI counts only when `influx version` says `Influx CLI 2.`.

The token goes to the CLI in its environment (`INFLUX_TOKEN`), never on its command line,
where `ps` would show it.

A 2.x backup is a folder with `<time>.manifest` (JSON: `kv`, `sql`, `buckets`, each file as
`fileName`, `size`, `compression`) beside the gzip files it names. No 2.x server can run here
to restore it into, so restore checks it the way `influx restore` reads it: every file of its
manifest present, of the listed size, and each gzip stream whole.

Example::

    if is_v2(server_version("http://127.0.0.1:8086")):
        why = backup("http://127.0.0.1:8086", token, Path("staging/influxdb"))
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.domain.backup import Skipped

log = logging.getLogger(__name__)


def server_version(url: str, timeout: float = 5.0) -> str:
    """The `X-Influxdb-Version` of `url`'s /ping, or '' when it does not answer."""
    # [bot.influxdb] url is validated as http(s) (homelab.settings.http_url).
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/ping", timeout=timeout) as r:  # noqa: S310
            return str(r.headers.get("X-Influxdb-Version", ""))
    except (OSError, ValueError):
        return ""


def is_v2(version: str) -> bool:
    """Whether a server version string is InfluxDB 2.x ('v2.7.4', '2.7.1')."""
    return re.match(r"v?2\.", version) is not None


def cli() -> str | None:
    """The path of the InfluxDB 2.x `influx` CLI, or None (absent, or the 1.x shell)."""
    exe = shutil.which("influx")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if re.search(r"Influx CLI v?2\.", out.stdout) else None


def backup(url: str, token: str, dest: Path, version: str = "2.x") -> Skipped | None:
    """`influx backup DEST --host URL` with the token in its environment; None when done."""
    exe = cli()
    if exe is None:
        return Skipped(
            "influxdb",
            f"InfluxDB {version} at {url} is 2.x: its backup needs the influx CLI 2.x "
            "(`influx backup`), which is not installed here (Debian's `influx` is the 1.x "
            "shell); install InfluxData's influxdb2-cli, or take the backup with it yourself",
        )
    if not token:
        return Skipped(
            "influxdb",
            f"InfluxDB {version} at {url}: `influx backup` needs an operator token; set "
            '[bot.influxdb] token (e.g. "secret:influxdb-operator-token")',
        )
    env = {**os.environ, "INFLUX_TOKEN": token, "INFLUX_HOST": url}
    env.pop("INFLUX_ACTIVE_CONFIG", None)
    try:
        out = subprocess.run(
            [exe, "backup", str(dest), "--host", url],
            capture_output=True, text=True, timeout=3600, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Skipped("influxdb", f"influx backup failed: {exc}")
    if out.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        return Skipped("influxdb", f"influx backup --host {url} failed: {tail[0]}")
    return None


def manifests(folder: Path) -> list[Path]:
    """The 2.x manifests of a backup folder (JSON with a `kv` entry); empty for a 1.x one."""
    found = []
    for path in sorted(folder.glob("*.manifest")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "kv" in doc:
            found.append(path)
    return found


def _entries(node: Any) -> Iterator[dict[str, Any]]:
    """Every file entry ({fileName, size, compression}) anywhere in a manifest."""
    if isinstance(node, dict):
        if isinstance(node.get("fileName"), str):
            yield node
        for value in node.values():
            yield from _entries(value)
    elif isinstance(node, list):
        for item in node:
            yield from _entries(item)


def verify(folder: Path) -> tuple[list[str], list[str]]:
    """(problems, bucket names) of a 2.x backup: each listed file there, of its size, whole."""
    problems: list[str] = []
    buckets: list[str] = []
    for manifest in manifests(folder):
        doc = json.loads(manifest.read_text())
        buckets += [str(b.get("bucketName", "?")) for b in doc.get("buckets") or []]
        for entry in _entries(doc):
            name = str(entry["fileName"])
            path = folder / name
            if "/" in name or not path.is_file():
                problems.append(f"influxdb/{name}: listed in {manifest.name} but missing")
                continue
            size = path.stat().st_size
            if "size" in entry and int(entry["size"]) != size:
                want = entry["size"]
                problems.append(f"influxdb/{name}: {size} bytes, {manifest.name} says {want}")
                continue
            if entry.get("compression") == "gzip" or name.endswith(".gz"):
                try:
                    with gzip.open(path) as stream:
                        while stream.read(1 << 20):
                            pass
                except (OSError, EOFError, zlib.error) as exc:
                    problems.append(f"influxdb/{name}: not a whole gzip stream: {exc}")
    return problems, sorted(set(buckets))
