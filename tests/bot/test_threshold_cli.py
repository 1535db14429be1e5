"""The console path of /threshold: `homelab-bot do threshold ...` in a real process, its
database kept between calls, aliases from the settings, exit codes by outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness.services import free_port

BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _bot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(
        "[bot]\n"
        f'database_path = "{tmp_path / "bot.sqlite3"}"\n'
        f'image_dir = "{tmp_path / "img"}"\n'
        "[bot.prometheus]\n"
        f'url = "http://127.0.0.1:{free_port()}"\n'  # nothing listens there
        "timeout_seconds = 1.0\n"
        "[bot.hosts]\n"
        'aliases = {nas = "192.168.1.5:9101"}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(cfg)
    return subprocess.run(
        [*BOT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_do_threshold_set_list_clear_with_an_alias(tmp_path: Path) -> None:
    """Set by alias, listed with the instance it means, cleared; a second clear exits 3."""
    done = _bot(tmp_path, "do", "threshold", "set", "HostHighCpu", "0.8", "--host", "nas")
    assert done.returncode == 0, done.stderr
    assert "HostHighCpu threshold for nas (192.168.1.5:9101) set to 0.8" in done.stdout
    listed = _bot(tmp_path, "do", "threshold", "list")
    assert listed.returncode == 0, listed.stderr
    assert "nas (192.168.1.5:9101): 0.8 (by console)" in listed.stdout
    cleared = _bot(tmp_path, "do", "threshold", "clear", "HostHighCpu", "nas")
    assert cleared.returncode == 0 and "cleared" in cleared.stdout
    again = _bot(tmp_path, "do", "threshold", "clear", "HostHighCpu", "nas")
    assert again.returncode == 3 and "nothing to clear" in again.stdout


def test_do_threshold_refusals_exit_with_usage_or_not_found(tmp_path: Path) -> None:
    """Out of range and unknown alert exit 2 naming what is allowed; an unknown host exits 3."""
    high = _bot(tmp_path, "do", "threshold", "set", "HostHighCpu", "1.5")
    assert high.returncode == 2 and "give a value 0..1" in high.stdout
    alert = _bot(tmp_path, "do", "threshold", "set", "HostDown", "1")
    assert alert.returncode == 2 and "choose one of: HostHighCpu" in alert.stdout
    host = _bot(tmp_path, "do", "threshold", "set", "HostHighCpu", "0.5", "--host", "toaster")
    assert host.returncode == 3 and "[bot.hosts] aliases (nas)" in host.stdout


def test_do_help_lists_the_threshold_commands(tmp_path: Path) -> None:
    """`do help` has the three commands from the catalogue; `do help threshold set` the args."""
    text = _bot(tmp_path, "do", "help").stdout
    for usage in ("threshold set ALERT VALUE [HOST]", "threshold list",
                  "threshold clear ALERT [HOST]"):  # fmt: skip
        assert usage in text
    one = _bot(tmp_path, "do", "help", "threshold", "set").stdout
    assert "role: operator" in one and "--host HOST" in one
