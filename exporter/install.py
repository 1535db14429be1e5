"""`homelab-exporter install-service`: this host (or an image's root) made to run the exporter.

It writes the systemd unit of deploy/systemd as it is (the one source: the user, the paths of
the settings, secrets and spool are read from it), the settings file and the secrets file when
they are missing, the service user's sysusers.d entry (applied with `systemd-sysusers`), the
state and spool directories, and enables the unit. Each step first looks at what is there, so a
second run changes nothing and says so; `dry_run` only reports, with every file's content.

Under a root other than `/` (an image, a test) it writes what a package would and touches
nothing of the running host: the passwd entry through `systemd-sysusers --root`, the enable
symlink itself (what `systemctl --root enable` makes), no systemctl call.

Example::

    report = install(Path("/tmp/image"), dry_run=True)
    print("\\n".join(report.lines))
"""

from __future__ import annotations

import configparser
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

UNIT_NAME = "homelab-exporter.service"
UNIT_DIR = PurePosixPath("/etc/systemd/system")
SYSUSERS_DIR = PurePosixPath("/etc/sysusers.d")
SETTINGS_SOURCE = "homelab.example.toml"
ENV_FILE_TEMPLATE = (
    "# Secrets of homelab-exporter, one NAME=value a line; systemd reads this file as root\n"
    "# before the service starts (EnvironmentFile=). Keep it mode 0600.\n"
    "# HOMELAB_EXPORTER__INFLUX__TOKEN=...\n"
)


class InstallError(Exception):
    """An installation step cannot be done; the message says what to do."""


def deploy_file(name: str) -> str:
    """A file of deploy/ shipped with the package (the wheel force-includes it), else the
    checkout's (an editable install): deploy/systemd/homelab-exporter.service or
    deploy/homelab.example.toml."""
    packaged = resources.files("exporter").joinpath("_deploy", name)
    if packaged.is_file():
        return packaged.read_text()
    checkout = Path(__file__).resolve().parents[1] / "deploy"
    for candidate in (checkout / "systemd" / name, checkout / name):
        if candidate.is_file():
            return candidate.read_text()
    raise InstallError(f"{name} is not in this installation: reinstall homelab-exporter")


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """What the unit says about the files and the account it needs."""

    user: str
    state_dir: PurePosixPath
    spool_dir: PurePosixPath
    settings: PurePosixPath
    env_file: PurePosixPath
    exec_start: PurePosixPath
    wanted_by: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> UnitFacts:
        """Read the facts from the unit's text."""
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(text)
        service, install = parser["Service"], parser["Install"]
        env = dict(line.split("=", 1) for line in _values(text, "Environment"))
        (env_file,) = _values(text, "EnvironmentFile")
        return cls(
            user=service["User"],
            state_dir=PurePosixPath("/var/lib", service["StateDirectory"]),
            spool_dir=PurePosixPath(env["HOMELAB_EXPORTER__INFLUX__SPOOL_DIR"]),
            settings=PurePosixPath(env["HOMELAB_CONFIG"]),
            env_file=PurePosixPath(env_file.lstrip("-")),
            exec_start=PurePosixPath(service["ExecStart"].split()[0]),
            wanted_by=tuple(install["WantedBy"].split()),
        )


def _values(text: str, key: str) -> list[str]:
    """Every value of a repeatable key (configparser keeps only the last)."""
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


@dataclass
class Report:
    """What a run did (or would do), one line a step; `changed` is False on a second run."""

    dry_run: bool
    lines: list[str] = field(default_factory=list)
    changed: bool = False

    def did(self, what: str) -> None:
        """A step that changes something (or would, in a dry run)."""
        self.changed = True
        self.lines.append(f"would {what}" if self.dry_run else what)

    def kept(self, what: str) -> None:
        """A step with nothing to do."""
        self.lines.append(f"unchanged: {what}")


class Installer:
    """The steps, against `root` ("/" for this host)."""

    def __init__(self, root: Path, *, dry_run: bool = False, start: bool = True) -> None:
        self.root = root
        self.live = root.resolve() == Path("/")
        self.start = start
        self.unit_text = deploy_file(UNIT_NAME)
        self.facts = UnitFacts.parse(self.unit_text)
        self.report = Report(dry_run)

    def path(self, target: PurePosixPath) -> Path:
        """Where a path of the installed system is under the root."""
        return self.root / target.relative_to("/")

    def run(self) -> Report:
        """Every step, in order; the report."""
        facts = self.facts
        unit = UNIT_DIR / UNIT_NAME
        unit_changed = self.file(unit, self.unit_text, 0o644, replace=True)
        self.file(facts.settings, deploy_file(SETTINGS_SOURCE), 0o644, replace=False)
        self.file(facts.env_file, ENV_FILE_TEMPLATE, 0o600, replace=False)
        self.check_settings()
        self.user()
        self.directory(facts.state_dir, 0o755)
        self.directory(facts.spool_dir, 0o700)
        if not self.path(facts.exec_start).exists():
            self.report.lines.append(
                f"note: the unit runs {facts.exec_start}, which is not there yet: install the "
                "code first (docs/install.md)"
            )
        self.enable(unit_changed)
        if not self.report.changed:
            self.report.lines.append("nothing to change: homelab-exporter is installed")
        return self.report

    def file(self, target: PurePosixPath, content: str, mode: int, *, replace: bool) -> bool:
        """Write a file when it is missing, or when it is ours (`replace`) and differs; a secrets
        file (0600) that is looser is tightened, never rewritten. True when it changed."""
        path = self.path(target)
        if path.exists() and (not replace or path.read_text() == content):
            if mode == 0o600 and path.stat().st_mode & 0o077:
                self.report.did(f"chmod {mode:04o} {target} (it holds secrets)")
                if not self.report.dry_run:
                    path.chmod(mode)
                return True
            self.report.kept(f"{target}" + ("" if replace else " (never overwritten)"))
            return False
        self.report.did(f"{'update' if path.exists() else 'write'} {target} (mode {mode:04o})")
        if self.report.dry_run:
            self.report.lines.extend(f"    | {line}" for line in content.splitlines())
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(content)
        temporary.chmod(mode)
        temporary.replace(path)
        return True

    def check_settings(self) -> None:
        """The exporter accepts the settings file (as written now, or as it would be)."""
        from exporter.settings import ExporterSettings  # pydantic: only for this step
        from homelab.settings import ConfigError, load_settings

        path = self.path(self.facts.settings)
        if not path.exists():  # a dry run on a fresh root: the example is what it would be
            return
        try:
            load_settings(ExporterSettings, path, resolve_secrets=False)
        except ConfigError as exc:
            raise InstallError(
                f"homelab-exporter rejects {self.facts.settings}: {exc}; fix it, then run "
                "install-service again"
            ) from None

    def user(self) -> None:
        """The service user, declared in sysusers.d and created by systemd-sysusers."""
        name = self.facts.user
        declaration = (
            "# The service user of homelab-exporter.service, written by `homelab-exporter "
            "install-service`.\n"
            f'u {name} - "HomeLab exporter" {self.facts.state_dir}\n'
        )
        self.file(SYSUSERS_DIR / f"{name}.conf", declaration, 0o644, replace=True)
        if self.account(name) is not None:
            self.report.kept(f"user {name}")
            return
        self.report.did(f"create the system user {name} (systemd-sysusers)")
        if self.report.dry_run:
            return
        sysusers = shutil.which("systemd-sysusers")
        if sysusers is None:
            raise InstallError("systemd-sysusers is missing: install systemd (Debian: systemd)")
        conf = self.path(SYSUSERS_DIR / f"{name}.conf")
        proc = subprocess.run(
            [sysusers, f"--root={self.root}", str(conf)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if proc.returncode != 0 or self.account(name) is None:
            raise InstallError(f"systemd-sysusers could not create {name}: {proc.stderr.strip()}")

    def account(self, name: str) -> tuple[int, int] | None:
        """(uid, gid) of a user in the root's /etc/passwd, or None."""
        passwd = self.path(PurePosixPath("/etc/passwd"))
        if not passwd.exists():
            return None
        for line in passwd.read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == name:
                return int(fields[2]), int(fields[3])
        return None

    def directory(self, target: PurePosixPath, mode: int) -> None:
        """A directory owned by the service user with `mode`."""
        path = self.path(target)
        owner = self.account(self.facts.user)
        if path.is_dir() and owner is not None:
            st = path.stat()
            if (st.st_uid, st.st_gid) == owner and st.st_mode & 0o777 == mode:
                self.report.kept(f"{target}/")
                return
        self.report.did(f"create {target}/ (mode {mode:04o}, owner {self.facts.user})")
        if self.report.dry_run:
            return
        assert owner is not None  # user() created it
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        os.chown(path, *owner)

    def enable(self, unit_changed: bool) -> None:
        """Enabled: the [Install] symlinks; on this host through systemctl, and started."""
        links = [
            self.path(UNIT_DIR / f"{target}.wants" / UNIT_NAME) for target in self.facts.wanted_by
        ]
        if all(link.is_symlink() for link in links):
            self.report.kept(f"{UNIT_NAME} enabled")
        elif not self.live:
            self.report.did(f"enable {UNIT_NAME}")
            if not self.report.dry_run:
                for link in links:
                    link.parent.mkdir(parents=True, exist_ok=True)
                    if not link.is_symlink():
                        link.symlink_to(UNIT_DIR / UNIT_NAME)
        else:
            self.report.did(f"enable {UNIT_NAME} (systemctl enable)")
            if not self.report.dry_run:
                self.systemctl("enable", UNIT_NAME)
        if self.live:
            self.activate(unit_changed)

    def activate(self, unit_changed: bool) -> None:
        """On a running systemd: reload a changed unit, start it or restart it."""
        if not Path("/run/systemd/system").is_dir():
            self.report.lines.append("note: systemd is not running here; nothing started")
            return
        if unit_changed:
            self.report.did("reload systemd (systemctl daemon-reload)")
            if not self.report.dry_run:
                self.systemctl("daemon-reload")
        if not self.start:
            return
        active = subprocess.run(
            ["systemctl", "is-active", "--quiet", UNIT_NAME], check=False, timeout=30
        ).returncode == 0  # fmt: skip
        if not active or unit_changed:
            verb = "restart" if active else "start"
            self.report.did(f"{verb} {UNIT_NAME}")
            if not self.report.dry_run:
                self.systemctl(verb, UNIT_NAME)
        else:
            self.report.kept(f"{UNIT_NAME} running")

    def systemctl(self, *args: str) -> None:
        """Run systemctl on this host, or fail with its message."""
        proc = subprocess.run(
            ["systemctl", *args], capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise InstallError(f"systemctl {' '.join(args)} failed: {proc.stderr.strip()}")


def install(root: Path, *, dry_run: bool = False, start: bool = True) -> Report:
    """Install the exporter's service into `root`; what was done (or would be)."""
    if not dry_run and os.geteuid() != 0:
        raise InstallError("install-service writes system files and a user: run it as root")
    return Installer(root, dry_run=dry_run, start=start).run()
