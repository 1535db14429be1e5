"""deploy/ansible: the playbook passes `ansible-playbook --syntax-check`, and a real run on
localhost (local connection) installs the exporter into a temporary root per inventory host,
from a wheel of this checkout, and registers each with the bot's file_sd list through
`homelab-bot do host add` (audited); a second run changes nothing."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
UNIT = ROOT / "deploy" / "systemd" / "homelab-exporter.service"
BIN = Path(sys.executable).parent


def ansible_playbook() -> str:
    """The ansible-playbook of this environment (ansible-core, the dev extra)."""
    found = shutil.which("ansible-playbook", path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    if found is None:
        pytest.fail("ansible-playbook is missing: pip install -e '.[dev]' (ansible-core)")
    return found


def playbook(tmp_path: Path, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook -i INVENTORY site.yml ARGS, with its state kept under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMELAB_", "ANSIBLE_"))}
    env |= {"ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "PATH": f"{BIN}{os.pathsep}{env['PATH']}"}  # fmt: skip
    return subprocess.run(
        [ansible_playbook(), "-i", str(inventory), "site.yml", *args],
        cwd=ANSIBLE, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def recap(out: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host -> {ok, changed, failed, ...}."""
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def test_syntax_check_of_the_playbook_and_example_inventory(tmp_path: Path) -> None:
    """`ansible-playbook --syntax-check` accepts site.yml with the example inventory, which
    has both groups the plays need."""
    inventory = ANSIBLE / "inventory.example.yml"
    groups = yaml.safe_load(inventory.read_text())["all"]["children"]
    assert set(groups) == {"monitoring", "exporters"}
    proc = playbook(tmp_path, inventory, "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _venv_seeing_this_environment(root: Path) -> None:
    """The virtualenv the role would make, made beforehand without pip and seeing this test
    environment's packages (a .pth file): pip then installs only the wheel, not every
    dependency again. The role's own venv task sees it and skips (`creates`)."""
    venv = root / "opt" / "homelab" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (lib,) = (venv / "lib").glob("python3*")
    (lib / "site-packages" / "test-environment.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )


def test_playbook_installs_and_registers_an_inventory_on_localhost(tmp_path: Path) -> None:
    """Two inventory hosts, each a temporary root on this machine: afterwards each root has
    deploy/systemd's unit, the service user, its spool and the enable link, and the code from
    the wheel; the bot's file_sd file lists both, its audit log has both `host add`; a second
    run reports changed=0 everywhere."""
    wheels = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("*.whl")
    roots = {"alpha": tmp_path / "alpha", "beta": tmp_path / "beta"}
    for root in roots.values():
        _venv_seeing_this_environment(root)
    bot = tmp_path / "bot"
    bot.mkdir()
    (bot / "homelab.toml").write_text(
        '[bot]\ndatabase_path = "bot.sqlite3"\nimage_dir = "images"\n'
        '[bot.hosts]\nfile_sd = "file_sd/homelab-exporter-bot.yml"\n'
    )
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        f"[monitoring]\nbothost {local}\n\n[exporters]\n"
        f"alpha {local} homelab_root={roots['alpha']} homelab_host_address=127.0.0.1:9101\n"
        f"beta {local} homelab_root={roots['beta']}/ homelab_host_address=127.0.0.2:9101\n\n"
        f"[all:vars]\nhomelab_become=false\nhomelab_wheel={wheel}\n"
        f"homelab_bot_command={BIN / 'homelab-bot'}\n"
        f"homelab_bot_environment={{'HOMELAB_CONFIG': '{bot / 'homelab.toml'}'}}\n"
    )
    first = playbook(tmp_path, inventory)
    assert first.returncode == 0, first.stdout + first.stderr
    counts = recap(first.stdout)
    assert set(counts) == {"alpha", "beta"} and all(c["failed"] == 0 for c in counts.values())
    assert all(c["changed"] >= 3 for c in counts.values()), first.stdout  # wheel, pip, service
    for name, root in roots.items():
        system = root / "etc" / "systemd" / "system"
        assert (system / "homelab-exporter.service").read_text() == UNIT.read_text(), name
        assert (system / "multi-user.target.wants" / "homelab-exporter.service").is_symlink()
        assert "homelab-exporter:x:" in (root / "etc" / "passwd").read_text()
        assert (root / "var" / "lib" / "homelab-exporter" / "spool").is_dir()
        dist = list((root / "opt/homelab/venv/lib").glob("python3*/site-packages/homelab_*"))
        assert dist, f"{name}: the wheel is not installed in the root's virtualenv"
    targets = yaml.safe_load((bot / "file_sd" / "homelab-exporter-bot.yml").read_text())
    assert sorted((t["labels"]["host"], t["targets"]) for t in targets) == [
        ("alpha", ["127.0.0.1:9101"]), ("beta", ["127.0.0.2:9101"])]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(bot / "homelab.toml")
    audit = subprocess.run(
        [str(BIN / "homelab-bot"), "do", "audit", "tail", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for host in ("alpha address=127.0.0.1:9101", "beta address=127.0.0.2:9101"):
        assert re.search(rf"console \(0\) host add name={host} -> ok", audit), audit

    second = playbook(tmp_path, inventory)
    assert second.returncode == 0, second.stdout + second.stderr
    assert all(c["changed"] == 0 for c in recap(second.stdout).values()), second.stdout
