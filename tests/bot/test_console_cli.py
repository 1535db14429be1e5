"""The console is a proper CLI: help, usage from the schema, exit codes, --json (issue 8.5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.domain import commands as catalog
from bot.domain.commands import Arg, CommandSpec
from bot.domain.permissions import Role
from bot.interfaces.console.face import UsageError, help_text, parse_line
from tests.harness.services import NodeExporter, Prometheus, free_port, static_job

BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _bot(tmp_path: Path, *args: str, prometheus: str = "") -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "homelab.toml"
    url = prometheus or f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cfg.write_text(
        "[bot]\n"
        f'database_path = "{tmp_path / "bot.sqlite3"}"\n'
        f'image_dir = "{tmp_path / "img"}"\n'
        "[bot.prometheus]\n"
        f'url = "{url}"\n'
        "timeout_seconds = 1.0\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(cfg)
    return subprocess.run(
        [*BOT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("limits reset", "user is required"),
        ("limits reset abc", "'abc' is not a whole number"),
        ("limits reset 18446744073709551616", "above the maximum 18446744073709551615"),
        ("audit tail -1", "count: -1 is below the minimum 1"),
        ("audit tail 0", "count: 0 is below the minimum 1"),
        ("audit tail -n", "-n needs a value"),
        ("status --host", "--host needs a value"),
        ("status a b", "unexpected argument 'b'"),
        ("whoami now", "unexpected argument 'now'"),
    ],
)
def test_bad_arguments_get_the_commands_usage(line: str, problem: str) -> None:
    """A missing or bad argument names the problem and prints that command's usage."""
    with pytest.raises(UsageError) as err:
        parse_line(line.split())
    spec = catalog.command(" ".join(line.split()[:2])) or catalog.command(line.split()[0])
    assert spec is not None
    assert problem in str(err.value)
    assert f"usage: {spec.usage()}" in str(err.value)


def test_shell_and_cli_spell_arguments_alike() -> None:
    """`audit tail 5`, `audit tail -n 5` and `--count=5` are one call."""
    for line in ("audit tail 5", "audit tail -n 5", "audit tail --count 5", "audit tail --count=5"):
        assert parse_line(line.split()) == ("audit tail", {"count": 5})
    assert parse_line(["audit", "tail"]) == ("audit tail", {"count": 10})


def test_help_lists_every_command_and_exit() -> None:
    """`help` is made from the catalogue: every command's usage, plus help and exit/quit."""
    text = help_text()
    for spec in catalog.COMMANDS:
        assert spec.usage() in text
    assert "exit, quit" in text
    one = help_text("audit tail")
    assert "usage: audit tail [COUNT]" in one and "-n, --count COUNT" in one
    with pytest.raises(UsageError):
        help_text("nope")


def test_do_help_and_exit_codes(tmp_path: Path) -> None:
    """`do help` exits 0; bad usage exits 2 on stderr; argparse never leaks `audit_command`."""
    ok = _bot(tmp_path, "do", "help")
    assert ok.returncode == 0, ok.stderr
    assert "limits reset USER_ID" in ok.stdout
    bad = _bot(tmp_path, "do", "limits", "reset")
    assert bad.returncode == 2
    assert "usage: limits reset USER_ID" in bad.stderr
    leak = _bot(tmp_path, "audit")
    assert leak.returncode == 2
    assert "audit_command" not in leak.stderr and "{tail,verify}" in leak.stderr
    tail = _bot(tmp_path, "audit", "tail", "-n", "0")
    assert tail.returncode == 2 and "below the minimum 1" in tail.stdout + tail.stderr


def test_unavailable_prometheus_and_sync_without_token_exit_4(tmp_path: Path) -> None:
    """Prometheus unreachable and `sync` without a token are failures a script can see."""
    status = _bot(tmp_path, "do", "status")
    assert status.returncode == 4, status.stdout + status.stderr
    sync = _bot(tmp_path, "do", "--json", "sync")
    assert sync.returncode == 4
    doc = json.loads(sync.stdout)
    assert doc["outcome"] == "unavailable" and doc["exit_code"] == 4
    assert "token" in doc["text"]


@pytest.mark.parametrize(
    "words", [["status"], ["dashboard", "show", "fleet"], ["report", "daily"], ["chart", "cpu"]]
)
def test_prometheus_down_says_how_to_start_it(tmp_path: Path, words: list[str]) -> None:
    """Every command that reads Prometheus, with nothing listening at its URL: exit 4 and a
    sentence that says it is not running, how to start it, and the setting to check."""
    done = _bot(tmp_path, "do", *words)
    said = done.stdout + done.stderr
    assert done.returncode == 4, said
    assert "connection refused: is Prometheus running? `make run` starts it" in said, said
    assert "[bot.prometheus] url" in said and "Traceback" not in said, said


@pytest.mark.integration
def test_unknown_host_exits_3_and_json_carries_the_fleet(
    tmp_path: Path, prometheus_factory: Callable[..., Prometheus], node_exporter: NodeExporter
) -> None:
    """An unknown host exits 3; `--json` output is one parseable object with the answer."""
    prometheus = prometheus_factory(scrape_configs=[static_job("node", node_exporter.address)])
    prometheus.wait_for("node_uname_info", lambda r: len(r) == 1)
    unknown = _bot(tmp_path, "do", "status", "no-such-host", prometheus=prometheus.url)
    assert unknown.returncode == 3, unknown.stdout + unknown.stderr
    fleet = _bot(tmp_path, "do", "--json", "status", prometheus=prometheus.url)
    assert fleet.returncode == 0, fleet.stderr
    doc = json.loads(fleet.stdout)
    assert doc["command"] == "status" and doc["outcome"] == "ok"
    assert doc["embeds"] and doc["buttons"] == ["Refresh"]


def test_discord_options_come_from_the_schema() -> None:
    """The app command's option descriptions and bounds are the catalogue's; drift fails."""
    from bot.interfaces.discord.cogs.admin import AuditCog
    from bot.interfaces.discord.guard import spec_command

    tail = next(c for c in AuditCog.__cog_app_commands__ if c.name == "tail")
    option = tail._params["count"].to_dict()
    assert option["min_value"] == 1 and option["max_value"] == 50
    assert option["description"] == catalog.AUDIT_TAIL.args[0].help

    drifted = CommandSpec("drift", "d", Role.VIEWER, args=(Arg("host"),))

    async def callback(interaction: object, hostname: str | None = None) -> None:
        """A callback whose option is not the schema's."""

    with pytest.raises(TypeError, match="not the catalogue's arguments"):
        spec_command(drifted)(callback)  # type: ignore[arg-type]


def test_a_reader_that_goes_away_is_no_traceback(tmp_path: Path) -> None:
    """`homelab-bot do help | head -1`: once the reader has gone the output stops quietly,
    exit 1 (the output was cut), no 'uncaught exception' and no traceback on stderr."""
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(f'[bot]\ndatabase_path = "{tmp_path / "bot.sqlite3"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(cfg)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [*BOT, "do", "help"], env=env, stdout=write, stderr=subprocess.PIPE, text=True,
            timeout=60, check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "uncaught" not in done.stderr, done.stderr
