"""Alert delivery to the console face: each alert message printed, its graph written to disk;
and the task reminders and digest the Discord face would send (the projects' Notifier).

Without a Discord token (`make run`'s default) this is where alerts go; a resolution prints
the updated message under the id of the original, so the terminal reads like the channel.

Example::

    target = ConsoleAlerts(Path("var/bot/images"))
    ids = await target.post(message, nonce="...")     # prints "alert message #1: ..."
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.domain.messages import Message
from bot.interfaces.console.face import format_message

log = logging.getLogger(__name__)


class ConsoleAlerts:
    """An AlertTarget that prints; ids are unique per process start (milliseconds based)."""

    buttons = False
    graphs = True

    def __init__(self, image_dir: Path, out: TextIO | None = None) -> None:
        self.image_dir = image_dir
        self.out = out
        self._ids = itertools.count(int(time.time() * 1000))

    async def _print(self, head: str, msg: Message) -> None:
        text = await asyncio.to_thread(format_message, msg, self.image_dir)
        print(f"{head}\n{text}", file=self.out or sys.stdout, flush=True)

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Print a new alert message."""
        mid = next(self._ids)
        await self._print(f"--- alert message #{mid} ---", msg)
        return [mid]

    async def edit(self, ids: Sequence[int], msg: Message) -> list[int]:
        """Print the new state of an earlier message, under its id."""
        mid = ids[0] if ids else next(self._ids)
        await self._print(f"--- alert message #{mid} (updated) ---", msg)
        return [mid]

    async def delete(self, ids: Sequence[int]) -> None:
        """Say that earlier messages are gone."""
        print(f"--- message #{', #'.join(map(str, ids))} deleted ---", file=self.out or sys.stdout,
              flush=True)  # fmt: skip

    async def to_user(self, user_id: int, msg: Message) -> None:
        """A task reminder (on Discord, a DM to the assignee)."""
        await self._print(f"--- to user {user_id} ---", msg)

    async def to_channel(self, channel_id: int, msg: Message) -> None:
        """A notice for a channel (the overdue digest)."""
        await self._print(f"--- in channel {channel_id} ---", msg)

    async def reply(self, ids: Sequence[int], msg: Message) -> None:
        """Print a reply to an earlier message."""
        await self._print(f"--- reply to alert message #{ids[0] if ids else '?'} ---", msg)
