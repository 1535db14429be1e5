"""`homelab-exporter install-service --root DIR`: one command makes a fresh root run the
exporter (unit, settings, secrets file, user, spool, enabled), a second run changes nothing,
and `--dry-run` shows every file without writing one."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.install import UnitFacts, deploy_file
from tests.deploy.test_install_host import fresh_host, verify

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "homelab-exporter.service"
EXAMPLE = ROOT / "deploy" / "homelab.example.toml"
EXPORTER = Path(shutil.which("homelab-exporter") or ROOT / ".venv" / "bin" / "homelab-exporter")


def install_service(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """Run the command; its stdout lines, without the prefix (exit 0 asserted)."""
    code = main(["install-service", "--root", str(root), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return [line.removeprefix("install-service: ") for line in out.out.splitlines()]


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int, str]]:
    """Every path under root: mode, owner, group, mtime and content (or link target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_relative_to(root / "usr"):
            continue
        st = path.lstat()
        if path.is_symlink():
            body = str(path.readlink())
        elif path.is_file():
            body = path.read_text()
        else:
            body = ""
        found[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns,
                                              body)  # fmt: skip
    return found


def account(root: Path, name: str) -> tuple[int, int] | None:
    """(uid, gid) of `name` in root's passwd."""
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    return None


def test_the_unit_is_read_from_deploy_systemd_not_copied() -> None:
    """The unit install-service writes is deploy/systemd's file, byte for byte, and the paths
    and user it creates come from that file."""
    assert deploy_file("homelab-exporter.service") == UNIT.read_text()
    assert deploy_file("homelab.example.toml") == EXAMPLE.read_text()
    facts = UnitFacts.parse(UNIT.read_text())
    assert facts.user == "homelab-exporter"
    assert str(facts.spool_dir) == "/var/lib/homelab-exporter/spool"
    assert str(facts.settings) == "/etc/homelab/homelab.toml"
    assert str(facts.env_file) == "/etc/homelab/exporter.env"
    assert facts.wanted_by == ("multi-user.target",)


def test_one_command_installs_into_a_fresh_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a fresh root: the unit, settings, secrets file, sysusers.d entry and passwd entry,
    the spool owned by the service user, the enable symlink; systemd-analyze verify accepts
    the unit once the code is in place."""
    root = fresh_host(tmp_path / "root")
    lines = install_service(root, capsys)
    assert "create the system user homelab-exporter (systemd-sysusers)" in lines
    assert "enable homelab-exporter.service" in lines
    system = root / "etc" / "systemd" / "system"
    assert (system / "homelab-exporter.service").read_text() == UNIT.read_text()
    assert (root / "etc/homelab/homelab.toml").read_text() == EXAMPLE.read_text()
    assert stat.S_IMODE((root / "etc/homelab/homelab.toml").stat().st_mode) == 0o644
    env = root / "etc/homelab/exporter.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "HOMELAB_EXPORTER__INFLUX__TOKEN" in env.read_text()
    assert (root / "etc/sysusers.d/homelab-exporter.conf").read_text().splitlines()[-1] == (
        'u homelab-exporter - "HomeLab exporter" /var/lib/homelab-exporter'
    )
    owner = account(root, "homelab-exporter")
    assert owner is not None and owner[0] < 1000, "a system user"
    spool = root / "var/lib/homelab-exporter/spool"
    assert (spool.stat().st_uid, spool.stat().st_gid) == owner
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    link = system / "multi-user.target.wants" / "homelab-exporter.service"
    assert link.readlink() == Path("/etc/systemd/system/homelab-exporter.service")
    # The note names the missing code; with it in place the unit verifies silently.
    assert any("/opt/homelab/venv/bin/homelab-exporter, which is not there" in x for x in lines)
    venv_bin = root / "opt" / "homelab" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    shutil.copy(EXPORTER, venv_bin / "homelab-exporter")
    checked = verify(root, [system / "homelab-exporter.service"])
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr


def test_a_second_run_changes_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run twice: the second touches no file (modes, owners, mtimes, contents equal) and ends
    with "nothing to change"; each step says unchanged."""
    root = tmp_path / "root"
    root.mkdir()
    first = install_service(root, capsys)
    assert "nothing to change: homelab-exporter is installed" not in first
    before = snapshot(root)
    second = install_service(root, capsys)
    assert snapshot(root) == before
    assert second[-1] == "nothing to change: homelab-exporter is installed"
    steps = [x for x in second if not x.startswith(("note:", "nothing to change"))]
    assert steps and all(x.startswith("unchanged: ") for x in steps), steps


def test_dry_run_prints_every_file_and_writes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run on a fresh root leaves it empty and prints each file it would write with its
    whole content (the unit as in deploy/systemd), and the user, directories and enabling."""
    root = tmp_path / "root"
    root.mkdir()
    lines = install_service(root, capsys, "--dry-run")
    assert list(root.iterdir()) == []
    written = [x for x in lines if x.startswith("would write ")]
    assert [x.split()[2] for x in written] == [
        "/etc/systemd/system/homelab-exporter.service", "/etc/homelab/homelab.toml",
        "/etc/homelab/exporter.env", "/etc/sysusers.d/homelab-exporter.conf",
    ]  # fmt: skip
    unit_lines = UNIT.read_text().splitlines()
    start = lines.index(written[0]) + 1
    body = [x.removeprefix("    | ") for x in lines[start : start + len(unit_lines)]]
    assert body == unit_lines
    for step in (
        "would create the system user homelab-exporter (systemd-sysusers)",
        "would create /var/lib/homelab-exporter/spool/ (mode 0700, owner homelab-exporter)",
        "would enable homelab-exporter.service",
    ):
        assert step in lines
    # After a real run, a dry run has nothing to show.
    install_service(root, capsys)
    again = install_service(root, capsys, "--dry-run")
    assert not [x for x in again if x.startswith("would ")]


def test_upgrade_rewrites_the_unit_and_keeps_the_operators_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older unit is replaced; edited settings and secrets are kept; a secrets file made
    world-readable is tightened back to 0600 without being rewritten."""
    root = tmp_path / "root"
    root.mkdir()
    install_service(root, capsys)
    unit = root / "etc/systemd/system/homelab-exporter.service"
    unit.write_text(UNIT.read_text().replace("RestartSec=5s", "RestartSec=1s"))
    settings = root / "etc/homelab/homelab.toml"
    settings.write_text('[exporter]\nhostname = "nas"\n')
    env = root / "etc/homelab/exporter.env"
    env.write_text("HOMELAB_EXPORTER__INFLUX__TOKEN=kept\n")
    env.chmod(0o644)
    lines = install_service(root, capsys)
    assert "update /etc/systemd/system/homelab-exporter.service (mode 0644)" in lines
    assert "chmod 0600 /etc/homelab/exporter.env (it holds secrets)" in lines
    assert unit.read_text() == UNIT.read_text()
    assert settings.read_text() == '[exporter]\nhostname = "nas"\n'
    assert env.read_text() == "HOMELAB_EXPORTER__INFLUX__TOKEN=kept\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_settings_the_exporter_rejects_stop_before_anything_is_enabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings file with a wrong value: exit 1 naming the setting, no user, no enabling."""
    root = tmp_path / "root"
    (root / "etc/homelab").mkdir(parents=True)
    (root / "etc/homelab/homelab.toml").write_text("[exporter]\nport = 0\n")
    assert main(["install-service", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "homelab-exporter rejects /etc/homelab/homelab.toml" in err and "port" in err
    assert "Traceback" not in err
    assert not (root / "etc/passwd").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants").exists()
