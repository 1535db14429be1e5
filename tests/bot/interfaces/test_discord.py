"""The Discord face under simcord: declared permissions, the one check, refusals, components."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp import web
from discord import app_commands

from bot.adapters.sqlite import BUSY_TIMEOUT_SECONDS
from bot.domain import commands as catalog
from bot.domain.messages import Button, Message, Select, SelectOption
from bot.domain.permissions import Role
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.discord.guard import spec_of
from bot.interfaces.discord.render import render
from bot.interfaces.runtime import Runtime, role_map
from bot.services.admin import AdminService
from bot.services.gate import AUDIT_UNAVAILABLE
from bot.services.status import StatusService
from bot.services.thresholds import ThresholdService
from tests.bot.conftest import ADMIN_ID, make_settings
from tests.harness.simbot import bot_in_guild

# Values for each option type, to invoke any command generically.
SAMPLES: dict[discord.AppCommandOptionType, Any] = {
    discord.AppCommandOptionType.integer: 3,
    discord.AppCommandOptionType.string: "nas",
    discord.AppCommandOptionType.number: 0.5,
}


def _world(env: Any) -> tuple[Any, Any, Any, Any, Any]:
    """A guild with a viewer, an operator and an admin, granted through [bot.roles] role ids."""
    guild = env.create_guild()
    channel = guild.create_text_channel("ops")
    op_role = guild.create_role("ops")
    admin_role = guild.create_role("admins")
    settings = make_settings(
        Path(env.bot.settings.database_path).parent,
        roles={"operator": {"role_ids": [op_role.id]}, "admin": {"role_ids": [admin_role.id]}},
    )
    env.bot.core.gate.roles = role_map(settings)
    viewer = guild.add_member(env.create_user("vic"))
    operator = guild.add_member(env.create_user("olga"), roles=[op_role])
    admin = guild.add_member(env.create_user("ada"), roles=[admin_role])
    return guild, channel, viewer, operator, admin


def _options(command: app_commands.Command[Any, Any, Any], target: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in command.parameters:
        if p.type == discord.AppCommandOptionType.user:
            out[p.name] = target
        elif p.required and p.choices:
            out[p.name] = p.choices[0].value
        elif p.required:
            out[p.name] = SAMPLES[p.type]
    return out


async def test_tree_matches_the_catalogue(simcord_env: Any) -> None:
    """The synced tree holds exactly the catalogue's commands, each declaring its spec."""
    bot: HomelabBot = simcord_env.bot
    declared = bot.declared_commands()
    names = [c.qualified_name for c in declared]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(c.name for c in catalog.COMMANDS)
    for c in declared:
        assert spec_of(c) is catalog.command(c.qualified_name), c.qualified_name


async def test_viewer_is_refused_wherever_more_is_needed(simcord_env: Any) -> None:
    """Every command and component needing operator or admin refuses a viewer, naming the role."""
    bot: HomelabBot = simcord_env.bot
    _, channel, viewer, operator, _ = _world(simcord_env)
    bot.core.gate.limiter.rules.clear()  # this test counts refusals, not rate limits
    bot.core.gate.limiter.backoff = type(bot.core.gate.limiter.backoff)(after=1000)
    checked = 0
    for command in bot.declared_commands():
        spec = spec_of(command)
        assert spec is not None
        if spec.permission <= Role.VIEWER:
            continue
        result = await viewer.slash(channel, command.qualified_name, **_options(command, operator))
        assert result.ephemeral, command.qualified_name
        assert f"**{spec.permission.label}**" in result.response.content
        checked += 1
    for comp in catalog.COMPONENTS:
        if comp.permission <= Role.VIEWER:
            continue
        item: Button | Select = (
            Select(comp.custom_id("1"), (SelectOption("x", "x"),), comp.permission)
            if comp.select
            else Button(comp.custom_id("1"), "do", comp.permission)
        )
        msg = Message(text="x", rows=((item,),))
        sent = await bot.get_channel(channel.id).send(**render(msg)[0].kwargs(interaction=False))
        if comp.select:
            result = await viewer.select(sent, ["x"], custom_id=comp.custom_id("1"))
        else:
            result = await viewer.click(sent, custom_id=comp.custom_id("1"))
        assert result.ephemeral and f"**{comp.permission.label}**" in result.response.content
        checked += 1
    assert checked == sum(1 for s in (*catalog.COMMANDS, *catalog.COMPONENTS) if s.permission > 1)
    audit = await bot.core.gate.audit.entries()
    assert len(audit) == checked and all(e.record.outcome.startswith("refused") for e in audit)


async def test_operator_may_reset_limits_but_not_admin_commands(simcord_env: Any) -> None:
    """An operator (by Discord role) runs /limits reset; /sync still needs admin."""
    _, channel, viewer, operator, _ = _world(simcord_env)
    ok = await operator.slash(channel, "limits reset", user=viewer)
    assert "are reset" in ok.response.content
    no = await operator.slash(channel, "sync")
    assert "**admin**" in no.response.content and no.ephemeral


async def test_admin_audit_tail_and_verify_button(simcord_env: Any) -> None:
    """An admin reads the audit log (refusals included) and clicks its Verify button."""
    _, channel, viewer, _, admin = _world(simcord_env)
    await viewer.slash(channel, "sync")  # a refusal to find in the log
    tail = await admin.slash(channel, "audit tail", count=5)
    text = tail.response.embeds[0].description
    assert "sync" in text and "refused" in text
    verify_id = catalog.AUDIT_VERIFY_BUTTON.custom_id()
    clicked = await admin.click(tail.response.message, custom_id=verify_id)
    assert clicked.ephemeral and "intact" in clicked.response.embeds[0].title


async def test_operator_sets_a_threshold_audited_and_a_viewer_is_refused(
    simcord_env: Any,
) -> None:
    """/threshold set as an operator is stored, published and audited (started and ok); the
    same command from a viewer is refused privately, naming the role, and changes nothing."""
    bot: HomelabBot = simcord_env.bot
    _, channel, viewer, operator, _ = _world(simcord_env)
    service = bot.core.feature(ThresholdService)
    assert service is not None
    ok = await operator.slash(
        channel, "threshold set", alert="HostHighCpu", value=0.8, host="nas:9101"
    )
    assert ok.ephemeral
    assert "threshold for nas:9101 set to **0.8**" in ok.response.content
    assert [(t.alertname, t.instance, t.value) for t in service.published()] == [
        ("HostHighCpu", "nas:9101", 0.8)
    ]
    no = await viewer.slash(channel, "threshold set", alert="HostHighCpu", value=0.1)
    assert no.ephemeral and "**operator**" in no.response.content
    assert [t.value for t in service.published()] == [0.8]
    listed = await viewer.slash(channel, "threshold list")
    assert "nas:9101: **0.8** (by olga" in listed.response.embeds[0].fields[0].value
    rows = [(e.record.actor, e.record.action, e.record.outcome)
            for e in await bot.core.gate.audit.entries()]  # fmt: skip
    olga = [r for r in rows if r[0].startswith("olga")]
    assert [(a, o) for _, a, o in olga] == [("threshold set", "started"), ("threshold set", "ok")]
    assert any(r[1] == "threshold set" and r[2] == "refused: needs operator" for r in rows)
    assert not any(r[1] == "threshold list" for r in rows)  # a viewer's read is not audited


async def test_threshold_clear_on_discord_says_what_applies_again(simcord_env: Any) -> None:
    """/threshold clear removes the fleet-wide value; a bad value is refused with the range."""
    _, channel, _, operator, _ = _world(simcord_env)
    bad = await operator.slash(channel, "threshold set", alert="HostHighTemperature", value=200.0)
    assert "give a value -50..150" in bad.response.content
    await operator.slash(channel, "threshold set", alert="HostHighTemperature", value=70.0)
    cleared = await operator.slash(channel, "threshold clear", alert="HostHighTemperature")
    assert "the default (80) applies again" in cleared.response.content


async def test_owner_is_admin_without_any_role(simcord_env: Any) -> None:
    """The configured bot owner is admin with no Discord role at all."""
    guild, channel, *_ = _world(simcord_env)
    owner = guild.add_member(simcord_env.create_user("owner"))
    settings = make_settings(
        Path(simcord_env.bot.settings.database_path).parent, discord={"owner_ids": [owner.id]}
    )
    simcord_env.bot.owner_user_ids = set(settings.discord.owner_ids)
    result = await owner.slash(channel, "whoami")
    assert "role **admin** (bot owner)" in result.response.content


async def test_status_when_prometheus_is_down_is_deferred_then_explained(
    simcord_env: Any,
) -> None:
    """/status defers first, then says Prometheus cannot be reached and what to check."""
    _, channel, viewer, _, _ = _world(simcord_env)
    result = await viewer.slash(channel, "status")
    callbacks = [r for r in simcord_env.http_requests if r.path.endswith("/callback")]
    assert callbacks[0].json["type"] == 5  # deferred channel message, before any query
    embed = result.response.embeds[0]
    assert embed.title == "Status unavailable" and "connection refused" in embed.description


async def test_repeated_refusals_back_off_for_that_user_only(simcord_env: Any) -> None:
    """After three refusals a viewer must wait; another viewer is not slowed at all."""
    guild, channel, viewer, _, _ = _world(simcord_env)
    other = guild.add_member(simcord_env.create_user("otto"))
    for _ in range(3):
        await viewer.slash(channel, "sync")
    slowed = await viewer.slash(channel, "whoami")
    assert "Slow down" in slowed.response.content
    fine = await other.slash(channel, "whoami")
    assert "role **viewer**" in fine.response.content


@pytest.mark.parametrize("guild_id", [424242424242424242])
async def test_commands_sync_to_configured_guilds(
    runtime: Runtime, guild_id: int, settings_factory: Any
) -> None:
    """With guild_ids set, commands are synced to that guild and usable there."""
    import simcord

    settings = settings_factory(discord={"guild_ids": [guild_id], "owner_ids": [ADMIN_ID]})
    runtime.settings = settings
    bot = HomelabBot(settings, runtime.core, sync_on_start=False)
    async with simcord.run(bot) as env:
        guild = env.create_guild(id=guild_id)
        channel = guild.create_text_channel("ops")
        user = guild.add_member(env.create_user("vic"))
        assert "status" not in user.available_commands(channel)
        assert "to guild" in await bot.sync_commands()
        assert "status" in user.available_commands(channel)


async def test_canary_token_never_reaches_logs_or_discord(
    runtime: Runtime, settings_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, a canary Discord token and Prometheus password appear in no log and no message."""
    import logging

    from homelab.logs import RedactingFilter
    from homelab.settings import secrets_of

    canary = "canary-7fQ2mZx9Lk3Vb8Nw"
    settings = settings_factory(
        discord={"token": canary + "-token", "owner_ids": []},
        prometheus={
            "username": "ops",
            "password": canary,
            "url": "http://ops:" + canary + "@127.0.0.1:9",
        },
    )
    filt = RedactingFilter(secrets_of(settings))
    caplog.handler.addFilter(filt)
    caplog.set_level(logging.DEBUG)
    async with bot_in_guild(settings) as (env, channel, user):
        result = await user.slash(channel, "status", host="nas")
        wire = repr([(r.path, r.json) for r in env.http_requests])
    assert "Status unavailable" in result.response.embeds[0].title
    assert canary not in wire
    assert canary not in caplog.text and "DEBUG" in caplog.text


async def test_a_failed_sync_tells_the_admin_why(simcord_env: Any) -> None:
    """/sync that Discord partly refuses shows the admin the reason, and is audited as an error."""
    from bot.interfaces.discord.client import SyncError

    _, channel, _, _, admin = _world(simcord_env)
    reason = "FAILED to sync to guild 1: Discord refused access (403 Missing Access): invite it"

    async def refused() -> str:
        raise SyncError([reason])

    simcord_env.bot.core.feature(AdminService).syncer = refused
    result = await admin.slash(channel, "sync")
    assert result.ephemeral and result.response.content == reason
    entries = await simcord_env.bot.core.gate.audit.entries()
    assert entries[-1].record.action == "sync"
    assert entries[-1].record.outcome == "error: CommandInvokeError"
    errors = simcord_env.errors  # reading them acknowledges the one expected failure
    assert [type(getattr(e, "original", e)) for e in errors] == [SyncError]


class RecordingPrometheus:
    """A Prometheus-compatible API on loopback that calls `hook` on each query, then answers
    after 0.2 s: an error (503) while `down`, else an empty vector."""

    def __init__(self) -> None:
        self.url = ""
        self.down = True
        self.hook: Callable[[], None] = lambda: None

    async def query(self, request: web.Request) -> web.Response:
        """The /api/v1/query handler."""
        self.hook()
        await asyncio.sleep(0.2)
        if self.down:
            return web.json_response({"status": "error", "error": "starting"}, status=503)
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": []}}
        )


@pytest.fixture
async def recording_prometheus() -> AsyncIterator[RecordingPrometheus]:
    """A RecordingPrometheus serving on a free loopback port."""
    prom = RecordingPrometheus()
    app = web.Application()
    app.router.add_route("*", "/api/v1/query", prom.query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    prom.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield prom
    await runner.cleanup()


async def test_refresh_is_acknowledged_before_prometheus_is_asked(
    recording_prometheus: RecordingPrometheus, settings_factory: Any
) -> None:
    """A Refresh click is acknowledged (deferred update) before any query reaches Prometheus.

    simcord's clock stands still while the bot waits on a real socket, so the order of the
    interaction callback and the queries is what proves the 3 s window is kept.
    """

    prom = recording_prometheus
    settings = settings_factory(prometheus={"url": prom.url, "timeout_seconds": 2.9})
    async with bot_in_guild(settings) as (env, channel, user):
        first = await user.slash(channel, "status")
        assert first.response.embeds[0].title == "Status unavailable"
        before = len(_callbacks(env))
        seen: list[list[int]] = []
        prom.hook = lambda: seen.append(_callbacks(env)[before:])
        prom.down = False
        clicked = await user.click(first.response.message, label="Refresh")
        edited = channel.last_message
    assert seen, "the Refresh click never queried Prometheus"
    assert all(s == [6] for s in seen), seen  # a deferred update, before every query
    assert clicked.response.embeds[0].title == "Fleet: no hosts"
    assert edited.id == first.response.message.id  # the clicked message, edited in place
    assert edited.embeds[0].title == "Fleet: no hosts"


def _callbacks(env: Any) -> list[int]:
    """The types of the interaction responses the bot has sent so far."""
    return [r.json["type"] for r in env.http_requests if r.path.endswith("/callback")]


@pytest.fixture
def locked_database(simcord_env: Any) -> Iterator[sqlite3.Connection]:
    """Another connection holding the bot database's write lock (as a running CLI write would)."""
    conn = sqlite3.connect(simcord_env.bot.settings.database_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def _trace_writes(env: Any) -> list[list[int]]:
    """For each audit write the bot starts, the interaction responses sent before it."""
    seen: list[list[int]] = []

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            seen.append(_callbacks(env))

    await env.bot.core.gate.audit.db.run(lambda c: c.set_trace_callback(trace))
    return seen


async def test_refusal_is_answered_before_a_busy_audit_log_is_written(
    simcord_env: Any, locked_database: sqlite3.Connection
) -> None:
    """With the database write-locked elsewhere, a refusal still goes out before the audit write.

    The write then waits at most the bot's busy timeout (1 s) and fails; the refusal stands.
    """
    _, channel, viewer, _, _ = _world(simcord_env)
    db = simcord_env.bot.core.gate.audit.db
    assert await db.run(lambda c: db.busy_timeout()) == BUSY_TIMEOUT_SECONDS <= 1.0
    writes = await _trace_writes(simcord_env)
    started = time.monotonic()
    result = await viewer.slash(channel, "sync")
    took = time.monotonic() - started
    assert result.ephemeral and "**admin**" in result.response.content
    assert writes == [[4]]  # the refusal (type 4, ephemeral) was sent before the write began
    assert took < BUSY_TIMEOUT_SECONDS + 1.5  # bounded by the busy timeout, not SQLite's 5 s
    # the refusal row could not be written
    assert await simcord_env.bot.core.gate.audit.entries() == []


async def test_privileged_action_is_acknowledged_then_refused_when_audit_is_locked(
    simcord_env: Any, locked_database: sqlite3.Connection
) -> None:
    """An admin's /audit verify is deferred privately before the audit write, then refused."""
    _, channel, _, _, admin = _world(simcord_env)
    writes = await _trace_writes(simcord_env)
    result = await admin.slash(channel, "audit verify")
    assert writes == [[5]]  # deferred before the "started" row was attempted
    first = next(r for r in simcord_env.http_requests if r.path.endswith("/callback"))
    assert first.json["data"]["flags"] & 64  # ephemeral, so the refusal stays private
    assert result.ephemeral and result.response.content == AUDIT_UNAVAILABLE
    assert not result.response.embeds  # the verification itself never ran


def test_every_catalogued_command_and_component_has_a_handler(simcord_env: Any) -> None:
    """Each command and component of the catalogue has a handler in the running bot's core."""
    core = simcord_env.bot.core
    assert [c.name for c in catalog.COMMANDS if not core.handles(c.name)] == []
    assert [c.route for c in catalog.COMPONENTS if not core.handles_component(c.route)] == []


async def _status_then_refresh(env: Any, break_it: Callable[[], None]) -> Any:
    """/status (Prometheus down), `break_it()`, then a click on Refresh; the click's result."""
    _, channel, viewer, _, _ = _world(env)
    first = await viewer.slash(channel, "status")
    assert first.response.embeds[0].title == "Status unavailable"
    break_it()
    return await viewer.click(first.response.message, label="Refresh")


async def test_a_failing_refresh_gets_the_apology(
    simcord_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Refresh whose handler raises answers the clicker with the private apology."""
    from bot.interfaces.discord.guard import APOLOGY

    async def broken(host: str | None = None) -> Message:
        raise RuntimeError("Prometheus answered something nobody expected")

    core = simcord_env.bot.core
    clicked = await _status_then_refresh(
        simcord_env, lambda: monkeypatch.setattr(core.feature(StatusService), "status", broken)
    )
    replies = [m for m in clicked.followups if m.content == APOLOGY]
    assert len(replies) == 1 and replies[0].ephemeral, clicked


async def test_a_failing_click_check_gets_the_apology(
    simcord_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside the click's permission check is answered, not a silent refusal."""
    from bot.interfaces.discord.guard import APOLOGY

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("role map broken")

    gate = simcord_env.bot.core.gate
    clicked = await _status_then_refresh(
        simcord_env, lambda: monkeypatch.setattr(gate, "decide", broken)
    )
    texts = [m.content for m in [clicked.response, *clicked.followups] if m is not None]
    assert APOLOGY in texts, clicked
    assert clicked.ephemeral or all(m.ephemeral for m in clicked.followups), clicked


async def test_a_private_answer_after_a_public_deferral_stays_private(
    recording_prometheus: RecordingPrometheus, settings_factory: Any
) -> None:
    """/status for an unknown host: the public "thinking" becomes a note, the refusal is private.

    Discord (and simcord) give the first follow-up after defer(thinking) the deferral's
    visibility, so the private answer must come as a second follow-up.
    """

    from bot.interfaces.discord.guard import ANSWERED_PRIVATELY

    recording_prometheus.down = False  # answers: no hosts at all
    settings = settings_factory(prometheus={"url": recording_prometheus.url})
    async with bot_in_guild(settings) as (env, channel, user):
        result = await user.slash(channel, "status", host="nope")
        calls = [(r.method, r.path, r.json) for r in env.http_requests]
    assert _flags_of(calls, "/callback") == [0]  # deferred publicly: a host answer is public
    assert result.response.content == ANSWERED_PRIVATELY and not result.response.ephemeral
    private = [m for m in result.followups if "No host called" in m.content]
    assert len(private) == 1 and private[0].ephemeral, result.followups
    assert "No host called" not in result.response.content


def _flags_of(calls: list[tuple[str, str, Any]], suffix: str) -> list[int]:
    """The ephemeral bit of the interaction responses sent to paths ending in `suffix`."""
    out = []
    for _, path, body in calls:
        if path.endswith(suffix):
            data = (body or {}).get("data") or {}
            out.append(int(data.get("flags") or 0) & 64)
    return out
