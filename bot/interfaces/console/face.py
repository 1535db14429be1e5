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
import json
import logging
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from bot.domain import commands as catalog
from bot.domain.commands import ArgError, CommandSpec, parse_words
from bot.domain.messages import Button, LinkButton, Message, Select, split
from bot.domain.permissions import Actor
from bot.domain.text import plain, printable, timestamps
from bot.services.core import CONSOLE_ACTOR, Core

log = logging.getLogger(__name__)

# How a command's outcome becomes the console's exit code (docs/bot.md, "Exit codes").
EXIT_CODES = {
    "ok": 0,
    "failed": 1,
    "usage": 2,
    "refused": 2,
    "not_found": 3,
    "unavailable": 4,
}

SHELL_ONLY = (("help [COMMAND]", "this list, or one command's usage"), ("exit, quit", "leave"))


def exit_code(msg: Message) -> int:
    """The exit code of a `do` command whose answer is `msg`."""
    return EXIT_CODES.get(msg.outcome, 1)


def help_text(name: str = "") -> str:
    """Every command's usage and description from the catalogue, or one command's."""
    if name:
        spec = catalog.command(name)
        if spec is None:
            raise UsageError(f"unknown command {name!r}; type 'help'")
        lines = [f"usage: {spec.usage()}", f"  {spec.description} (role: {spec.permission.label})"]
        for a in spec.args:
            alias = f"{a.short}, " if a.short else ""
            bits = [a.help] if a.help else []
            if a.default is not None:
                bits.append(f"default {a.default}")
            lines.append(f"  {alias}--{a.name} {a.metavar}: {'; '.join(bits)}")
        return "\n".join(lines)
    rows = [(c.usage(), c.description) for c in catalog.COMMANDS] + list(SHELL_ONLY)
    width = max(len(u) for u, _ in rows)
    return "commands:\n" + "\n".join(f"  {u.ljust(width)}  {d}" for u, d in rows)


class UsageError(Exception):
    """A console line that names no command or has bad arguments."""


def parse_line(words: list[str]) -> tuple[str, dict[str, Any]]:
    """A console command line -> (command name, handler arguments), checked by the schema."""
    if not words:
        raise UsageError("empty command; type 'help'")
    spec = _longest_match(words)
    if spec is None:
        near = [c.name for c in catalog.COMMANDS if c.name.split()[0] == words[0]]
        if near:
            raise UsageError(
                f"unknown command {' '.join(words)!r}; did you mean: {', '.join(near)}?"
            )
        raise UsageError(f"unknown command {' '.join(words)!r}; type 'help'")
    rest = words[len(spec.name.split()) :]
    try:
        return spec.name, parse_words(spec, rest)
    except ArgError as exc:
        raise UsageError(f"{exc}\nusage: {spec.usage()}") from None


def _longest_match(words: list[str]) -> CommandSpec | None:
    for n in (2, 1):
        spec = catalog.command(" ".join(words[:n])) if len(words) >= n else None
        if spec is not None:
            return spec
    return None


def message_json(name: str, msg: Message, image_dir: Path) -> str:
    """`msg` as one JSON object for scripts: outcome, texts, embeds, images, buttons, links."""
    parts = split(msg)
    images = [str(_write_image(image_dir, i.filename, i.data)) for p in parts for i in p.images]
    doc = {
        "command": name,
        "outcome": msg.outcome,
        "exit_code": exit_code(msg),
        "text": printable(plain("\n".join(p.text for p in parts if p.text))),
        "embeds": [
            {
                "title": printable(plain(e.title)),
                "description": printable(plain(e.description)),
                "fields": {printable(plain(f.name)): printable(plain(f.value)) for f in e.fields},
                "footer": printable(plain(e.footer)),
                **({"colour": e.colour} if e.colour is not None else {}),
            }
            for p in parts
            for e in p.embeds
        ],
        "images": images,
        "buttons": [c.label for p in parts for c in p.components() if isinstance(c, Button)],
        "links": [
            {"label": printable(c.label), "url": printable(c.url)}
            for p in parts
            for c in p.components()
            if isinstance(c, LinkButton)
        ],
    }
    return json.dumps(doc, ensure_ascii=False)


_PICTURES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def _write_image(image_dir: Path, filename: str, data: bytes) -> Path:
    image_dir.mkdir(parents=True, exist_ok=True)
    path = image_dir / Path(filename).name
    path.write_bytes(data)
    return path


def format_message(msg: Message, image_dir: Path, now: float | None = None) -> str:
    """A message as plain text; images are written to `image_dir` and named by path.

    Outside text (host names, labels) may hold terminal escape sequences; they are removed.
    Discord's `<t:...>` timestamps are shown as UTC times (relative ones against `now`).
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
            # Attachments other than pictures (a report's HTML file) are files, not images.
            kind = "image" if image.filename.lower().endswith(_PICTURES) else "file"
            lines.append(f"[{kind}: {_write_image(image_dir, image.filename, image.data)}]")
        for c in part.components():
            if isinstance(c, Button):
                lines.append(f"[button: {c.label}]")
            elif isinstance(c, LinkButton):
                lines.append(f"[link: {c.label} <{c.url}>]")
            elif isinstance(c, Select):
                lines.append(f"[select: {', '.join(o.label for o in c.options)}]")
    text = timestamps("\n".join(lines), time.time() if now is None else now)
    return printable(plain(text))


class Console:
    """Runs console lines as the local owner and prints the answers."""

    def __init__(
        self,
        core: Core,
        image_dir: Path,
        out: TextIO | None = None,
        actor: Actor = CONSOLE_ACTOR,
        *,
        as_json: bool = False,
    ) -> None:
        self.core = core
        self.image_dir = image_dir
        self.out = out or sys.stdout
        self.actor = actor
        self.as_json = as_json

    async def run(self, name: str, args: dict[str, Any]) -> Message:
        """Run one command through the gate and print its answer (as JSON with `as_json`)."""
        msg = await self.core.execute(self.actor, name, args)
        if self.as_json:
            text = await asyncio.to_thread(message_json, name, msg, self.image_dir)
        else:
            text = await asyncio.to_thread(format_message, msg, self.image_dir)
        print(text, file=self.out, flush=True)
        return msg

    async def run_line(self, line: str) -> Message | None:
        """Parse and run one line; usage errors and help are printed, not raised."""
        try:
            words = shlex.split(line)
            if words[:1] in (["help"], ["?"]):
                print(help_text(" ".join(words[1:])), file=self.out, flush=True)
                return None
            name, args = parse_line(words)
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
            if line:
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
