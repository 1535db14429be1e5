"""Start the real homelab-exporter as a subprocess on a free loopback port.

It runs exactly as `homelab-exporter run` does in production (settings validated, then the lean
re-exec), from a settings file written into its working directory.

Example::

    exp = Exporter(tmp_path, influx={"enabled": True, "url": influxdb.url}).start()
    try:
        body = exp.scrape()
    finally:
        exp.stop()
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.harness.services import Service, free_port, http


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def toml_table(name: str, values: dict[str, Any]) -> str:
    """A TOML table with scalar values (nested dicts become sub-tables)."""
    lines = [f"[{name}]"]
    subs = []
    for key, value in values.items():
        if isinstance(value, dict):
            subs.append(toml_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n\n" + "".join(subs)


def spooled_times(spool_dir: Path, measurement: str = "system") -> set[int]:
    """Timestamps of the `measurement` points still waiting in an exporter's spool files."""
    times = set()
    for segment in spool_dir.glob("*.lp"):
        for line in segment.read_text().splitlines():
            if line.startswith(f"{measurement},"):
                times.add(int(line.rsplit(" ", 1)[1]))
    return times


class Exporter(Service):
    """homelab-exporter with the given [exporter] settings (influx as a nested dict)."""

    name = "homelab-exporter"

    def __init__(self, workdir: Path, influx: dict[str, Any] | None = None, **settings: Any):
        super().__init__(workdir)
        self.settings: dict[str, Any] = {
            "listen_address": "127.0.0.1",
            "port": self.port,
            "log_level": "INFO",
            **settings,
        }
        influx_settings = {"spool_dir": str(self.workdir / "spool"), **(influx or {})}
        self.settings["influx"] = influx_settings
        self.config_path = self.workdir / "homelab.toml"

    def fresh_ports(self) -> bool:
        """Its port is in the settings file `prepare` writes (unless the test chose it)."""
        if self.settings["port"] != self.port:
            return False
        self.port = self.settings["port"] = free_port()
        return True

    def find_exe(self) -> str:
        """This interpreter: the exporter runs as `python -m exporter`."""
        return sys.executable

    def prepare(self) -> None:
        """Write the settings file."""
        self.config_path.write_text(toml_table("exporter", self.settings))

    def argv(self) -> list[str]:
        """`python -m exporter --config FILE run`."""
        return [self.exe, "-m", "exporter", "--config", str(self.config_path), "run"]

    def ready_url(self) -> str:
        """Answers 200 once serving."""
        return f"{self.url}/healthz"

    @property
    def pid(self) -> int:
        """PID of the serving process (the re-exec keeps it)."""
        assert self.proc is not None
        return self.proc.pid

    def scrape(self, headers: dict[str, str] | None = None) -> str:
        """GET /metrics as text."""
        status, body = http("GET", f"{self.url}/metrics", headers=headers)
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {body[:300]!r}")
        return body.decode()

    def sample_value(self, name: str, **labels: str) -> float | None:
        """Value of one sample of /metrics, parsed with prometheus_client's parser."""
        from prometheus_client.parser import text_string_to_metric_families

        for fam in text_string_to_metric_families(self.scrape()):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None
