"""Command sync on the wire: `homelab-bot sync-commands` and the sync in setup_hook, through
discord.py's real HTTP client, against a local fake of Discord's REST API
(tests/harness/fakediscord.py) that enforces Discord's documented limits.

discord.py is pointed at the fake by overriding `discord.http.Route.BASE` in the test only:
in the bootstrap line of the CLI's subprocess, or with monkeypatch in-process. The bot has no
setting for it, so no configuration can send its token anywhere but Discord.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.http
import pytest

from bot.domain import commands as catalog
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime
from tests.bot.conftest import make_settings
from tests.harness.fakediscord import OWNER_ID, FakeDiscord, Recorded
from tests.harness.services import free_port

pytestmark = pytest.mark.integration

CANARY = "canary-wire-Zq8rT3xW9vKp2LmN5bHj"
GUILDS = [111111111111111111, 222222222222222222]
# The test's own bootstrap: the override exists only in this child process, never in the bot.
BOOT = (
    "import sys, discord.http; discord.http.Route.BASE = sys.argv.pop(1); "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)
CATALOGUE = sorted(f"/{c.name}" for c in catalog.COMMANDS)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord, knowing the canary token and the two test guilds."""
    async with FakeDiscord(CANARY, guild_ids=GUILDS) as f:
        yield f


def _leaves(payload: list[dict[str, Any]]) -> list[str]:
    """'/status', '/audit tail', ... from a bulk-overwrite body."""
    out: list[str] = []

    def walk(prefix: str, options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (1, 2)]
        if not subs:
            out.append(prefix)
        for s in subs:
            walk(f"{prefix} {s['name']}", s.get("options", []))

    for cmd in payload:
        walk(f"/{cmd['name']}", cmd.get("options", []))
    return sorted(out)


async def _cli(
    fake: FakeDiscord,
    tmp_path: Path,
    *args: str,
    token: str = CANARY,
    guild_ids: list[int] | None = None,
    **env_extra: str,
) -> tuple[int, str, str]:
    """Run `homelab-bot <args>` in a subprocess aimed at the fake, at DEBUG."""
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(
        "[bot]\n"
        'log_level = "DEBUG"\n'
        f'database_path = "{tmp_path / "bot.sqlite3"}"\n'
        f'image_dir = "{tmp_path / "img"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env.update(HOMELAB_CONFIG=str(cfg), HOMELAB_BOT__DISCORD__TOKEN=token, **env_extra)
    if guild_ids is not None:
        env["HOMELAB_BOT__DISCORD__GUILD_IDS"] = json.dumps(guild_ids)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BOOT,
        fake.api_base,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _paths(requests: list[Recorded]) -> list[str]:
    return [f"{r.method} {r.path.split('/api/v10', 1)[1]}" for r in requests]


async def test_sync_commands_puts_the_catalogue_to_each_guild(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """Every catalogued command is PUT to each configured guild, with the Bot token, and listed."""
    rc, out, err = await _cli(fake, tmp_path, "sync-commands", guild_ids=GUILDS)
    assert rc == 0, err
    app = "/applications/1100000000000000001"
    assert _paths(fake.requests) == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",  # once: setup_hook reuses what login() read
        f"PUT {app}/guilds/{GUILDS[0]}/commands",
        f"PUT {app}/guilds/{GUILDS[1]}/commands",
    ]
    assert all(r.headers["Authorization"] == f"Bot {CANARY}" for r in fake.requests)
    for r in fake.requests_to("PUT"):
        assert r.status == 200 and _leaves(r.json) == CATALOGUE
    for gid in GUILDS:
        assert _leaves(fake.commands[gid]) == CATALOGUE  # what Discord now holds
        line = next(x for x in out.splitlines() if f"guild {gid}" in x)
        assert line.startswith(f"synced {len(CATALOGUE)} commands to guild {gid}: ")
        assert sorted(line.split(": ", 1)[1].split(", ")) == CATALOGUE
    assert None not in fake.commands  # nothing global
    assert "DEBUG" in err  # discord.py's request log really ran
    assert CANARY not in out + err


async def test_sync_commands_without_guilds_syncs_globally(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """With no guild_ids the catalogue goes to the global commands, and the output says so."""
    rc, out, err = await _cli(fake, tmp_path, "sync-commands")
    assert rc == 0, err
    puts = fake.requests_to("PUT")
    assert [r.path for r in puts] == [fake.global_commands_path()]
    assert _leaves(puts[0].json) == CATALOGUE
    assert f"synced {len(CATALOGUE)} commands globally" in out and "/audit verify" in out
    assert CANARY not in out + err


@pytest.mark.parametrize("global_", [False, True], ids=["bucket", "global"])
async def test_sync_commands_waits_out_a_429(
    fake: FakeDiscord, tmp_path: Path, global_: bool
) -> None:
    """A 429 on the first guild's PUT is retried after retry_after, and the sync completes."""
    fake.rate_limit("PUT", rf"/guilds/{GUILDS[0]}/commands$", retry_after=0.6, global_=global_)
    rc, out, err = await _cli(fake, tmp_path, "sync-commands", guild_ids=GUILDS)
    assert rc == 0, err
    first = fake.requests_to("PUT", rf"/guilds/{GUILDS[0]}/")
    assert [r.status for r in first] == [429, 200]
    assert first[1].at - first[0].at >= 0.6 * 0.95  # discord.py slept retry_after
    assert "rate limited" in err  # discord.py's warning, through our logging
    assert all(f"synced {len(CATALOGUE)} commands to guild {g}" in out for g in GUILDS)
    assert CANARY not in out + err


async def test_sync_commands_with_a_refused_token_exits_2(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """A 401 at log-in stops at once: exit 2, a sentence naming the setting, no token shown."""
    fake.token = "the-token-discord-knows"
    rc, out, err = await _cli(fake, tmp_path, "sync-commands", guild_ids=GUILDS)
    assert rc == 2
    assert "Discord refused the bot token (401 Unauthorized)" in err
    assert "HOMELAB_BOT__DISCORD__TOKEN" in err and "[bot.discord] token" in err
    assert "Traceback" not in err
    assert _paths(fake.requests) == ["GET /users/@me"]  # one invalid request, no retries
    assert fake.invalid_requests == 1 and not fake.requests_to("PUT")
    assert CANARY not in out + err


async def test_sync_commands_names_a_guild_without_the_app(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """A guild the bot was not invited to fails with the scope to add; the others still sync."""
    stranger = 333333333333333333
    rc, out, err = await _cli(fake, tmp_path, "sync-commands", guild_ids=[stranger, GUILDS[0]])
    assert rc == 1
    assert f"error: FAILED to sync to guild {stranger}: Discord refused access (403" in err
    assert "applications.commands" in err and "guild_ids" in err
    assert out.startswith(f"synced {len(CATALOGUE)} commands to guild {GUILDS[0]}: /status")
    assert _leaves(fake.commands[GUILDS[0]]) == CATALOGUE
    assert "Traceback" not in err and CANARY not in out + err


async def test_run_with_a_refused_token_exits_with_the_reason(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """`run` whose token Discord refuses stops (exit 1) saying which setting to fix."""
    fake.token = "the-token-discord-knows"
    rc, out, err = await _cli(fake, tmp_path, "run", HOMELAB_BOT__WEB__PORT=str(free_port()))
    assert rc == 1
    text = out + err
    assert "the Discord face stopped: Discord refused the bot token (401" in text
    assert "HOMELAB_BOT__DISCORD__TOKEN" in text and "shutting down" in text
    assert CANARY not in text


async def test_setup_hook_syncs_to_the_guilds_at_login(
    fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logging in runs setup_hook, which syncs the catalogue to each guild and learns the owner."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    settings = make_settings(
        tmp_path, discord={"token": CANARY, "guild_ids": GUILDS, "owner_ids": []}
    )
    rt = await Runtime.build(settings)
    try:
        bot = HomelabBot(settings, rt.core)
        async with bot:
            await bot.login(CANARY)
    finally:
        await rt.close()
    assert [r.path for r in fake.requests_to("PUT")] == [
        fake.guild_commands_path(g) for g in GUILDS
    ]
    assert all(_leaves(fake.commands[g]) == CATALOGUE for g in GUILDS)
    assert len(fake.requests_to("GET", r"/oauth2/applications/@me$")) == 1
    assert bot.owner_user_ids == {OWNER_ID}


async def test_setup_hook_logs_a_failed_guild_and_keeps_going(
    fake: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A guild refusing the sync at start is logged with the fix; login still succeeds."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    stranger = 333333333333333333
    settings = make_settings(
        tmp_path, discord={"token": CANARY, "guild_ids": [stranger, GUILDS[1]]}
    )
    rt = await Runtime.build(settings)
    try:
        bot = HomelabBot(settings, rt.core)
        with caplog.at_level(logging.ERROR):
            async with bot:
                await bot.login(CANARY)
                assert bot.user is not None
    finally:
        await rt.close()
    assert f"FAILED to sync to guild {stranger}" in caplog.text
    assert "applications.commands" in caplog.text
    assert _leaves(fake.commands[GUILDS[1]]) == CATALOGUE


async def test_a_definition_discord_rejects_names_the_field(
    fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command over Discord's 8000-character total (unchecked by discord.py) fails clearly."""
    from discord import app_commands

    from bot.interfaces.discord.client import SyncError

    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    settings = make_settings(tmp_path, discord={"token": CANARY, "guild_ids": GUILDS[:1]})
    choices = [app_commands.Choice(name="n" * 100, value="v" * 100) for _ in range(25)]

    @app_commands.command(name="huge", description="d" * 100)
    @app_commands.choices(first=choices, second=choices)
    async def huge(interaction: discord.Interaction[Any], first: str, second: str) -> None:
        """2 x 25 choices of 200 characters: 10000 > 8000."""

    rt = await Runtime.build(settings)
    try:
        bot = HomelabBot(settings, rt.core, sync_on_start=False)
        async with bot:
            await bot.login(CANARY)
            bot.tree.add_command(huge)
            with pytest.raises(SyncError) as caught:
                await bot.sync_commands()
    finally:
        await rt.close()
    text = str(caught.value)
    assert f"FAILED to sync to guild {GUILDS[0]}: Discord rejected the command" in text
    assert "huge" in text and "exceeds maximum size (8000)" in text
    assert not caught.value.token_refused and GUILDS[0] not in fake.commands
