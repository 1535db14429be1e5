"""Every shipped way to start a program starts it: each entry point's exact command line runs
and serves /healthz.

The entry points: the systemd units' ExecStart (with their Environment=), the compose file's
entrypoint/command of the exporter and the bot over deploy/Dockerfile's ENTRYPOINT/CMD, the
image's own default command, and deploy/Procfile's lines (as `make run`'s honcho runs them,
through a shell from the checkout). The install prefix maps to this test's virtualenv and
/etc/homelab, /var/lib to a temporary root; settings give free ports and no Discord token, so
the bot runs its console face beside the web face. The compose services' environment is not
applied (it names container paths such as /host/proc); the units' Environment= is, mapped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.harness.exporter import toml_table
from tests.harness.services import Service, free_port, http

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
INSTALLED_BIN = "/opt/homelab/venv/bin/"
PROGRAMS = ("homelab-exporter", "homelab-bot")


@dataclass(frozen=True)
class EntryPoint:
    """One shipped command line: argv as written, environment it sets, and how it runs."""

    source: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    in_checkout: bool = False  # the Procfile runs from the repository root

    @property
    def program(self) -> str:
        """Which of the two programs the command starts."""
        words = [w for a in self.argv for w in shlex.split(a)]
        names = [p for p in PROGRAMS if any(Path(w).name == p for w in words)]
        assert len(names) == 1, f"{self.source}: starts neither program: {self.argv}"
        return names[0]


def _unit_items(unit: Path) -> list[tuple[str, str]]:
    """(key, value) of each line of the [Service] section, repeated keys kept."""
    items, section = [], ""
    for line in unit.read_text().splitlines():
        if line.startswith("["):
            section = line.strip()
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            items.append((key.strip(), value.strip()))
    return items


def systemd_entry_points() -> list[EntryPoint]:
    """ExecStart of each unit, with its Environment= lines."""
    found = []
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        items = _unit_items(unit)
        (exec_start,) = [v for k, v in items if k == "ExecStart"]
        env = dict(v.split("=", 1) for k, v in items if k == "Environment")
        found.append(EntryPoint(f"systemd:{unit.name}", tuple(shlex.split(exec_start)), env))
    return found


def _dockerfile_instruction(name: str) -> list[str]:
    """The last ENTRYPOINT or CMD of deploy/Dockerfile as argv (exec or shell form)."""
    lines = re.findall(rf"^{name}\s+(.+)$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    if not lines:
        return []
    value = lines[-1].strip()
    return list(json.loads(value)) if value.startswith("[") else ["/bin/sh", "-c", value]


def _compose_argv(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else list(value)


def container_entry_points() -> list[EntryPoint]:
    """The image's default command, and what compose runs for the exporter and the bot."""
    entrypoint, cmd = _dockerfile_instruction("ENTRYPOINT"), _dockerfile_instruction("CMD")
    found = [EntryPoint("Dockerfile:CMD", tuple(entrypoint + cmd))]
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("exporter", "bot"):
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        ep = _compose_argv(svc.get("entrypoint"))
        command = _compose_argv(svc.get("command"))
        # Compose semantics: an entrypoint override drops the image's CMD too.
        argv = (ep if ep is not None else entrypoint) + (
            command if command is not None else ([] if ep is not None else cmd)
        )
        found.append(EntryPoint(f"compose:{name}", tuple(argv)))
    return found


def procfile_entry_points() -> list[EntryPoint]:
    """deploy/Procfile's exporter and bot lines; honcho runs each through a shell."""
    found = []
    for line in (ROOT / "deploy" / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name in ("exporter", "bot"):
            found.append(EntryPoint(f"Procfile:{name}", ("/bin/sh", "-c", command.strip()),
                                    in_checkout=True))
    assert {e.source for e in found} == {"Procfile:exporter", "Procfile:bot"}
    return found


ENTRY_POINTS = systemd_entry_points() + container_entry_points() + procfile_entry_points()


class ShippedCommand(Service):
    """A program started by one entry point's command line, in a temporary root."""

    def __init__(self, workdir: Path, entry: EntryPoint) -> None:
        self.entry = entry
        self.name = entry.program
        self.root = Path(workdir) / "root"
        super().__init__(workdir)

    def _local(self, value: str) -> str:
        """An installed path as this test's: the venv for the prefix, the root for the rest."""
        if value.startswith(INSTALLED_BIN):
            return str(VENV_BIN / value.removeprefix(INSTALLED_BIN))
        if value in PROGRAMS:  # the image's PATH has the venv's bin first
            return str(VENV_BIN / value)
        for prefix in ("/etc/homelab/", "/var/lib/"):
            if value.startswith(prefix):
                return str(self.root / value.lstrip("/"))
        if value.startswith("%d/"):  # systemd's credentials directory (LoadCredential=)
            return str(self.root / "run" / "credentials" / value.removeprefix("%d/"))
        return value

    def find_exe(self) -> str:
        """The command as the entry point names it, installed paths mapped."""
        return self._local(self.entry.argv[0])

    def config_path(self) -> Path:
        """Where the settings file goes: where the unit says, else the temporary root's."""
        return Path(self._local(self.entry.env.get("HOMELAB_CONFIG",
                                                   "/etc/homelab/homelab.toml")))

    def prepare(self) -> None:
        """Settings: free ports, state under the root, no Discord token, Prometheus absent."""
        state = self.root / "var" / "lib" / self.name
        state.mkdir(parents=True, exist_ok=True)  # systemd's StateDirectory=, a volume
        exporter = {"listen_address": "127.0.0.1", "port": self.port,
                    "influx": {"enabled": False, "spool_dir": str(state / "spool")}}
        bot = {"database_path": str(state / "bot.sqlite3"), "image_dir": str(state / "images"),
               "prometheus": {"url": f"http://127.0.0.1:{free_port()}"},
               "web": {"listen_address": "127.0.0.1", "port": self.port}}
        path = self.config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(toml_table("exporter", exporter) + toml_table("bot", bot))
        for value in self.entry.env.values():
            if value.startswith("/var/lib/"):
                Path(self._local(value)).parent.mkdir(parents=True, exist_ok=True)
            if value.startswith("%d/"):  # what LoadCredential= puts there before the start
                credential = Path(self._local(value))
                credential.parent.mkdir(parents=True, exist_ok=True)
                credential.write_text("entry-point-test-token\n")

    def argv(self) -> list[str]:
        """The entry point's exact command line, installed paths mapped."""
        return [self.exe, *self.entry.argv[1:]]

    def child_env(self) -> dict[str, str]:
        """No HOMELAB_* from the test run; the entry point's own, mapped; the settings file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
        env.update({k: self._local(v) for k, v in self.entry.env.items()})
        env["HOMELAB_CONFIG"] = str(self.config_path())
        env.pop("DISCORD_TOKEN", None)
        return env

    def start(self, timeout: float = 60) -> Service:
        """Start from the checkout (Procfile) or the temporary root's working directory."""
        if self.entry.in_checkout:
            self.workdir = ROOT
            self.log_path = self.root.parent / f"{self.name}.log"
        return super().start(timeout)

    def ready_url(self) -> str:
        """/healthz of the program's HTTP face."""
        return f"{self.url}/healthz"


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e.source)
def test_entry_point_runs_the_program_and_serves_healthz(entry: EntryPoint, tmp_path: Path) -> None:
    """The exact shipped command line starts the program, which serves /healthz and stops
    cleanly (exit 0) on SIGTERM, as systemd and docker stop it."""
    program = ShippedCommand(tmp_path, entry)
    try:
        program.start()
        status, body = http("GET", f"{program.url}/healthz")
        assert status == 200, body
        assert program.proc is not None
        program.proc.send_signal(signal.SIGTERM)
        assert program.proc.wait(30) == 0, program.log_tail()
    finally:
        program.stop()


def test_every_kind_of_entry_point_is_checked() -> None:
    """Both units, the image's default, both compose services and both Procfile lines."""
    assert [e.source for e in ENTRY_POINTS] == [
        "systemd:homelab-bot.service", "systemd:homelab-exporter.service",
        "Dockerfile:CMD", "compose:exporter", "compose:bot",
        "Procfile:exporter", "Procfile:bot",
    ]
    assert {e.program for e in ENTRY_POINTS} == set(PROGRAMS)
