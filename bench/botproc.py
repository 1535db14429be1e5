"""The real `homelab-bot run` as a subprocess, its discord.py aimed at the local fake of Discord.

A bootstrap line overrides `discord.http.Route.BASE` and the gateway URL before the bot's CLI
starts (as tests/integration/test_delivery_wire.py does): the bot has no setting for either, so
the fake is reached only from benchmarks and tests. Every alert routes to `CHANNEL`.

Example::

    async with FakeDiscord(TOKEN, guild_ids=[GUILD], channel_ids=[CHANNEL]) as fake:
        bot = await start_bot(fake, tmp_path)
        ...  # POST to bot.webhook_url with HOOK_TOKEN
        await bot.stop()
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.harness.fakediscord import FakeDiscord
from tests.harness.services import free_port

TOKEN = "bench-burst-Wq8rT3xW9vKp2LmN"  # noqa: S105 (the fake's, a test value)
HOOK_TOKEN = "bench-burst-hook-3kd8Wm2Qp9Zx7Lr4"  # noqa: S105 (a test value)
GUILD = 444444444444444444
CHANNEL = 555555555555555555
BOOT = (
    "import sys, yarl, discord.http, discord.gateway; "
    "discord.http.Route.BASE = sys.argv.pop(1); "
    "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv.pop(1)); "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)


class BotProcess:
    """A running bot: its process, web port and log file."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    @property
    def webhook_url(self) -> str:
        """The Alertmanager webhook."""
        return f"http://127.0.0.1:{self.port}/webhooks/alertmanager"

    async def until(self, what: str, check: Callable[[], Awaitable[bool]], within: float) -> None:
        """Poll `check()` until true; raise with the bot's log when it dies or time runs out."""
        deadline = time.monotonic() + within
        while not await check():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                tail = self.log.read_bytes()[-4000:].decode(errors="replace")
                raise RuntimeError(f"no {what}; the bot's log ends:\n{tail}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_bot(fake: FakeDiscord, tmp: Path) -> BotProcess:
    """Start the bot aimed at `fake`; returns once /healthz answers and READY was sent."""
    port = free_port()
    (tmp / "token").write_text(HOOK_TOKEN + "\n")
    cfg = tmp / "homelab.toml"
    cfg.write_text(
        f'[bot]\nlog_level = "WARNING"\ndatabase_path = "{tmp / "bot.sqlite3"}"\n'
        f'image_dir = "{tmp / "img"}"\n'
        f"[bot.discord]\nguild_ids = [{GUILD}]\n"
        f'[bot.prometheus]\nurl = "http://127.0.0.1:{free_port()}"\n'
        f'[bot.alerts]\ncredentials_file = "{tmp / "token"}"\n'
        f"default_channel_id = {CHANNEL}\n"
        f'alertmanager_url = "http://127.0.0.1:{free_port()}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env.update(HOMELAB_CONFIG=str(cfg), HOMELAB_BOT__DISCORD__TOKEN=TOKEN,
               HOMELAB_BOT__WEB__PORT=str(port))  # fmt: skip
    log = tmp / "bot.log"
    with open(log, "wb") as out:  # noqa: ASYNC230 (a log file for the child, once)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BOOT, fake.api_base, fake.gateway_url, "run",
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    bot = BotProcess(proc, port, log)

    async def ready() -> bool:
        if not any(kind == "ready" for kind, _ in fake.gateway_log):
            return False
        try:
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"http://127.0.0.1:{port}/healthz") as r,
            ):
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await bot.until("/healthz and a gateway READY", ready, 60)
    return bot
