"""The console face: the bot's commands from a terminal, messages printed as text.

Images are written to the configured folder and their paths printed. The console runs as the
local owner (admin), but still through the same gate as Discord.

Example::

    console = Console(runtime.core, Path("var/bot/images"), out=sys.stdout)
    await console.run_line("status nas")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from bot.domain.messages import Button, Message, Select, split
from bot.domain.permissions import Actor
from bot.domain.text import plain, printable
from bot.services.core import CONSOLE_ACTOR, Core

log = logging.getLogger(__name__)

HELP = """commands:
  status [HOST]          fleet summary, or one host
  whoami                 the role you have
  audit tail [N]         latest audit entries
  audit verify           check the audit hash chain
  limits reset USER_ID   lift a user's rate limits
  sync                   sync Discord commands (needs a token)
  help, quit"""


class UsageError(Exception):
    """A console line that names no command or has bad arguments."""


def parse_line(words: list[str]) -> tuple[str, dict[str, Any]]:
    """A console command line -> (command name, handler arguments)."""
    if not words:
        raise UsageError("empty command; type 'help'")
    head = words[0]
    rest = words[1:]
    if head == "status":
        if "--host" in rest:
            i = rest.index("--host")
            rest = rest[:i] + rest[i + 1 :]
        if len(rest) > 1:
            raise UsageError("usage: status [HOST]")
        return "status", {"host": rest[0] if rest else None}
    if head in ("whoami", "sync") and not rest:
        return head, {}
    if head == "audit" and rest[:1] == ["tail"]:
        n = rest[1:]
        if n and n[0] in ("-n", "--count"):
            n = n[1:]
        try:
            return "audit tail", {"n": int(n[0])} if n else {}
        except ValueError:
            raise UsageError("usage: audit tail [N]") from None
    if head == "audit" and rest == ["verify"]:
        return "audit verify", {}
    if head == "limits" and rest[:1] == ["reset"] and len(rest) == 2 and rest[1].isdigit():
        return "limits reset", {"user_id": int(rest[1])}
    raise UsageError(f"unknown command {' '.join(words)!r}; type 'help'")


def format_message(msg: Message, image_dir: Path) -> str:
    """A message as plain text; images are written to `image_dir` and named by path.

    Outside text (host names, labels) may hold terminal escape sequences; they are removed.
    """
    lines: list[str] = []
    for part in split(msg):
        if part.text:
            lines.append(part.text)
        for e in part.embeds:
            if e.title:
                lines.append(f"== {e.title} ==")
            if e.description:
                lines.append(e.description)
            for f in e.fields:
                lines.append(f"{f.name}: {f.value}")
            if e.footer:
                lines.append(f"-- {e.footer}")
        for image in part.images:
            image_dir.mkdir(parents=True, exist_ok=True)
            path = image_dir / Path(image.filename).name
            path.write_bytes(image.data)
            lines.append(f"[image: {path}]")
        for c in part.components():
            if isinstance(c, Button):
                lines.append(f"[button: {c.label}]")
            elif isinstance(c, Select):
                lines.append(f"[select: {', '.join(o.label for o in c.options)}]")
    return printable(plain("\n".join(lines)))


class Console:
    """Runs console lines as the local owner and prints the answers."""

    def __init__(
        self, core: Core, image_dir: Path, out: TextIO | None = None, actor: Actor = CONSOLE_ACTOR
    ) -> None:
        self.core = core
        self.image_dir = image_dir
        self.out = out or sys.stdout
        self.actor = actor

    async def run(self, name: str, args: dict[str, Any]) -> Message:
        """Run one command through the gate and print its answer."""
        msg = await self.core.execute(self.actor, name, args)
        text = await asyncio.to_thread(format_message, msg, self.image_dir)
        print(text, file=self.out, flush=True)
        return msg

    async def run_line(self, line: str) -> Message | None:
        """Parse and run one line; usage errors are printed, not raised."""
        try:
            name, args = parse_line(shlex.split(line))
        except (UsageError, ValueError) as exc:
            print(f"error: {exc}", file=self.out, flush=True)
            return None
        return await self.run(name, args)

    async def shell(self, stdin: TextIO | None = None) -> None:
        """An interactive shell until 'quit' or end of input."""
        stdin = stdin or sys.stdin
        print("homelab-bot console; type 'help'", file=self.out, flush=True)
        while True:
            print("homelab> ", end="", file=self.out, flush=True)
            line = await _readline(stdin)
            if not line:
                return
            line = line.strip()
            if line in ("quit", "exit"):
                return
            if line in ("help", "?"):
                print(HELP, file=self.out, flush=True)
            elif line:
                await self.run_line(line)


def _readline(stdin: TextIO) -> asyncio.Future[str]:
    """Read a line in a daemon thread, so a pending read never blocks the process's exit."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[str] = loop.create_future()

    def deliver(line: str) -> None:
        if not fut.done():
            fut.set_result(line)

    def work() -> None:
        try:
            line = stdin.readline()
        except (OSError, ValueError):
            line = ""
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(deliver, line)

    threading.Thread(target=work, name="console-stdin", daemon=True).start()
    return fut
