"""`homelab-bot run` with a token: the Discord face against a local fake of Discord (REST and a
minimal gateway, tests/harness/fakediscord.py), stopped by SIGTERM.

discord.py is pointed at the fake by the bootstrap line of the subprocess only (Route.BASE and
the default gateway); the bot has no setting for either.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.harness.fakediscord import FakeDiscord
from tests.harness.services import free_port, http

pytestmark = pytest.mark.integration

TOKEN = "canary-run-Zq8rT3xW9vKp2LmN5bHj"
GUILD = 333333333333333333
BOOT = (
    "import sys, yarl, discord.http, discord.gateway; "
    "discord.http.Route.BASE = sys.argv.pop(1); "
    "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv.pop(1)); "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord, knowing the token and one guild."""
    async with FakeDiscord(TOKEN, guild_ids=[GUILD]) as f:
        yield f


class Bot:
    """`homelab-bot run` in a subprocess, its combined output collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, db: Path) -> None:
        self.proc = proc
        self.port = port
        self.db = db
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return "\n".join(self.lines)

    async def until(self, what: str, check: Callable[[], bool], within: float = 20) -> None:
        """Wait until `check()` holds; fail naming `what`, with the output, if it never does."""
        deadline = asyncio.get_running_loop().time() + within
        while not check():
            assert self.proc.returncode is None, f"exited before {what}:\n{self.output}"
            assert asyncio.get_running_loop().time() < deadline, f"no {what}:\n{self.output}"
            await asyncio.sleep(0.05)

    def healthy(self) -> bool:
        """Whether /healthz answers 200."""
        try:
            return http("GET", f"http://127.0.0.1:{self.port}/healthz", timeout=1)[0] == 200
        except OSError:
            return False

    async def terminate(self) -> int:
        """SIGTERM, then the exit status (killed after 15 s)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 15)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        await self._reader
        return code


@pytest.fixture
async def start_bot(
    fake: FakeDiscord, tmp_path: Path
) -> AsyncIterator[Callable[[], Awaitable[Bot]]]:
    """Start `homelab-bot run` with the token, aimed at the fake; killed afterwards if need be."""
    started: list[Bot] = []

    async def start() -> Bot:
        port = free_port()
        db = tmp_path / "bot.sqlite3"
        cfg = tmp_path / "homelab.toml"
        cfg.write_text(
            f'[bot]\nlog_level = "DEBUG"\ndatabase_path = "{db}"\nimage_dir = "{tmp_path / "i"}"\n'
            f"[bot.discord]\nguild_ids = [{GUILD}]\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
        env.update(
            HOMELAB_CONFIG=str(cfg),
            HOMELAB_BOT__DISCORD__TOKEN=TOKEN,
            HOMELAB_BOT__WEB__PORT=str(port),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            BOOT,
            fake.api_base,
            fake.gateway_url,
            "run",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        bot = Bot(proc, port, db)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        if bot.proc.returncode is None:
            bot.proc.kill()
            await bot.proc.wait()


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wal_exists(db: Path) -> bool:
    return Path(f"{db}-wal").exists()


def _closed_cleanly(bot: Bot) -> None:
    """The web port is released, the database closed (WAL checkpointed away), nothing leaked."""
    assert _port_is_free(bot.port)
    assert bot.db.exists() and not _wal_exists(bot.db)  # SQLite removes it on the last close
    assert "shutting down" in bot.output
    for bad in ("Traceback", "Unclosed", "was never awaited", "Task was destroyed"):
        assert bad not in bot.output, bot.output
    assert TOKEN not in bot.output


async def test_sigterm_after_ready_closes_the_gateway_and_exits_0(
    fake: FakeDiscord, start_bot: Callable[[], Awaitable[Bot]]
) -> None:
    """Once ready, SIGTERM logs out of the gateway (close 1000), frees the port, closes the DB."""
    bot = await start_bot()
    await bot.until("ready", lambda: "connected to Discord as" in bot.output)
    await bot.until("/healthz", bot.healthy)
    assert _wal_exists(bot.db)  # the database is open while the bot runs
    assert ("identify", True) in fake.gateway_log
    assert fake.requests_to("PUT", rf"/guilds/{GUILD}/commands$")  # synced at start
    assert await bot.terminate() == 0, bot.output
    # 1000 is a log-out: Discord shows the bot offline at once (4000 would keep it "online").
    assert fake.gateway_log[-1] == ("closed", 1000), bot.output
    _closed_cleanly(bot)


async def test_sigterm_while_connecting_exits_0(
    fake: FakeDiscord, start_bot: Callable[[], Awaitable[Bot]]
) -> None:
    """With the gateway silent (no HELLO), the bot is still connecting; SIGTERM ends it cleanly."""
    fake.gateway_mode = "silent"
    bot = await start_bot()
    await bot.until("a gateway connection", lambda: bool(fake.gateway_log))
    await bot.until("/healthz", bot.healthy)
    assert "connected to Discord as" not in bot.output
    assert await bot.terminate() == 0, bot.output
    await asyncio.sleep(0.1)  # let the fake see the socket go
    assert fake.gateway_log[-1][0] == "closed", fake.gateway_log  # no session to log out of
    _closed_cleanly(bot)
