"""Replaying the console transcripts of docs/user-guide.md: each ```console block is one
`$ homelab-bot do ...` line and the output it gives, run in order against one fresh bot
(settings in a temporary directory). `python -m tests.deploy.guides` rewrites the blocks from
a real run; tests/deploy/test_guides.py checks that they still match one."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USER_GUIDE = ROOT / "docs" / "user-guide.md"
BLOCK = re.compile(r"```console\n\$ (homelab-bot do [^\n]*)\n(.*?)```", re.S)
SHOWN_DIR = "/var/lib/homelab-bot"
SETTINGS = (
    '[bot]\ndatabase_path = "bot.sqlite3"\nimage_dir = "images"\n'
    '[bot.hosts]\nfile_sd = "file_sd/homelab-exporter-bot.yml"\n'
    # Nothing listens there: the commands that need Alertmanager say so.
    '[bot.alerts]\nalertmanager_url = "http://127.0.0.1:9"\n'
)


def blocks(text: str) -> list[tuple[str, str]]:
    """(command line, documented output) of each console block."""
    return [(cmd, out) for cmd, out in BLOCK.findall(text)]


def normalise(text: str) -> str:
    """Times and hashes vary from run to run."""
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", text)
    return re.sub(r"\b[0-9a-f]{64}\b", "<hash>", text)


def replay(commands: list[str], workdir: Path) -> list[str]:
    """Each command's stdout, in order, against one fresh bot in `workdir`."""
    (workdir / "homelab.toml").write_text(SETTINGS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(workdir / "homelab.toml")
    exe = Path(sys.executable).parent / "homelab-bot"
    outputs = []
    for line in commands:
        argv = shlex.split(line)
        proc = subprocess.run(
            [str(exe), *argv[1:]],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        out = proc.stdout.replace(str(workdir), SHOWN_DIR)
        if not out.endswith("\n"):
            out += "\n"
        if proc.returncode:
            out += f"[exit {proc.returncode}]\n"
        outputs.append(out)
    return outputs


def regenerate() -> None:
    """Rewrite each console block of the user guide with a real run's output."""
    text = USER_GUIDE.read_text()
    commands = [cmd for cmd, _ in blocks(text)]
    with tempfile.TemporaryDirectory() as tmp:
        outputs = iter(replay(commands, Path(tmp)))
    USER_GUIDE.write_text(
        BLOCK.sub(lambda m: f"```console\n$ {m.group(1)}\n{next(outputs)}```", text)
    )


if __name__ == "__main__":
    regenerate()
