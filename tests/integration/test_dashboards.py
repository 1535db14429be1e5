"""Dashboards against one real stack (module-scoped): the real exporter feeding a real
Prometheus, and a real Alertmanager. On the console `dashboard show` writes the grid PNG; in
simcord a live dashboard is created, refreshed on simcord's clock (edits counted, not slept
for), left alone while its data stands still, refreshed within a tick when an alert arrives,
reposted when its message is deleted or refuses edits (30046), and found again after a
restart with its buttons working."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest
import simcord

from bot.adapters.sqlite import SqliteAuditRepository
from bot.domain.alerts.model import parse_notification
from bot.domain.dashboards.model import Params
from bot.domain.messages import validate
from bot.interfaces.console.face import Console
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime, role_map
from bot.services.core import CONSOLE_ACTOR
from bot.services.dashboards import DashboardService
from tests.bot.conftest import make_settings
from tests.conftest import FixtureGroup
from tests.deploy.stack import host_overlay
from tests.harness.exporter import Exporter
from tests.harness.services import Alertmanager, Prometheus, static_job

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n"


class Stack:
    """The module's services."""

    def __init__(self, prom: Prometheus, am: Alertmanager) -> None:
        self.prom = prom
        self.am = am


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Exporter (host "nas") -> Prometheus (1 s scrapes); an Alertmanager beside them."""
    base = tmp_path_factory.mktemp("dashboards")
    group = FixtureGroup(base / "services")
    try:
        procfs, sysfs = host_overlay(base / "host")
        exporter = group(Exporter, hostname="nas", procfs_path=str(procfs),
                         sysfs_path=str(sysfs))  # fmt: skip
        prom: Prometheus = group(
            Prometheus, scrape_configs=[static_job("homelab-exporter", exporter.address)]
        )
        am: Alertmanager = group(Alertmanager)
        prom.wait_for('rate(node_cpu_seconds_total{mode="user"}[5m])', bool)
        prom.wait_for("node_uname_info", lambda r: len(r) == 1)
        yield Stack(prom, am)
    finally:
        group.stop_all()


def _settings(tmp_path: Path, stack: Stack, **extra: Any) -> Any:
    return make_settings(
        tmp_path,
        prometheus={"url": stack.prom.url, "scrape_interval_seconds": 1.0},
        alerts={"alertmanager_url": stack.am.url},
        **extra,
    )


def _png_size(data: bytes) -> tuple[int, int]:
    img = matplotlib.image.imread(io.BytesIO(data), format="png")
    return img.shape[1], img.shape[0]


def _alert(name: str, instance: str, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "instance": instance, "severity": "critical"},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
        "fingerprint": f"{name:0<16}"[:16],
    }


async def test_console_shows_each_dashboard_from_the_real_stack(
    tmp_path: Path, stack: Stack
) -> None:
    """`dashboard show fleet|host|alerts|welcome` print real content; the grids are PNGs of
    1200x800 with the host's data; an unknown host is a sentence naming the hosts."""
    async with await Runtime.build(_settings(tmp_path, stack)) as rt:
        images = tmp_path / "images"
        console = Console(rt.core, images, out=io.StringIO())
        fleet = await console.run("dashboard show", {"type": "fleet"})
        assert validate(fleet) == [] and fleet.outcome == "ok"
        assert "nas" in fleet.embeds[0].description and "🟢" in fleet.embeds[0].description
        (grid,) = fleet.images
        assert grid.data.startswith(PNG) and _png_size(grid.data) == (1200, 800)
        assert (images / "fleet.png").read_bytes() == grid.data
        assert fleet.rows == ()  # a one-off: no controls that nothing would find again
        host = await console.run("dashboard show", {"type": "host", "target": "nas"})
        assert host.outcome == "ok" and host.images[0].filename == "host.png"
        assert "nas" in host.embeds[0].title
        stack.am.api("POST", "alerts", [{"labels": {"alertname": "ConsoleShown",
                                                    "instance": "nas:1", "severity": "warning"},
                                         "annotations": {"summary": "seen"}},
                                        {"labels": {"alertname": "Watchdog", "severity": "none"},
                                         "annotations": {"summary": "alive"}}])  # fmt: skip
        alerts = await console.run("dashboard show", {"type": "alerts"})
        assert "ConsoleShown" in alerts.embeds[0].description
        # The always-firing heartbeat is not something wrong: shown and counted nowhere.
        assert "Watchdog" not in alerts.embeds[0].description
        assert alerts.embeds[0].title.startswith("Alerts: 1 firing"), alerts.embeds[0].title
        welcome = await console.run("dashboard show", {"type": "welcome"})
        assert "Hosts up" in welcome.embeds[0].description and "1 of 1" in (
            welcome.embeds[0].description
        )
        assert "Alerts firing 1" in welcome.embeds[0].description.replace("*", "")
        unknown = await console.run("dashboard show", {"type": "host", "target": "nope"})
        assert unknown.outcome == "not_found" and "nas" in unknown.text
        missing = await console.run("dashboard show", {"type": "host"})
        assert missing.outcome == "usage" and "needs a target" in missing.text


def _edits(env: Any) -> int:
    return sum(1 for r in env.http_requests if r.method == "PATCH" and "/messages/" in r.path)


def _posts(env: Any, channel_id: int) -> int:
    return sum(1 for r in env.http_requests
               if r.method == "POST" and r.path == f"/channels/{channel_id}/messages")  # fmt: skip


def _operator_and_viewer(env: Any, guild: Any, rt: Runtime, tmp_path: Path) -> tuple[Any, Any]:
    """olga, an operator through the "ops" role, and vic, a viewer, in `guild`."""
    ops = guild.create_role("ops")
    roles = {"operator": {"role_ids": [ops.id]}}
    rt.core.gate.roles = role_map(make_settings(tmp_path, roles=roles))
    olga = guild.add_member(env.create_user("olga"), roles=[ops])
    return olga, guild.add_member(env.create_user("vic"))


def _dashboard_messages(channel: Any) -> list[Any]:
    return [m for m in channel.history() if m.author.bot and not m.flags.ephemeral]


async def test_a_live_dashboard_refreshes_on_change_reposts_and_survives_a_restart(
    tmp_path: Path, stack: Stack
) -> None:
    """Create an alerts dashboard in simcord; two intervals of still data edit nothing; an
    alert arriving (the outbox's ingest) edits it within one tick; a deleted message is
    reposted; an injected 30046 reposts and deletes the refused one; after a restart the
    dashboard is refreshed again and its Refresh button works."""
    settings = _settings(tmp_path, stack)
    rt = await Runtime.build(settings)
    try:
        service = rt.core.feature(DashboardService)
        assert service is not None
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("dash")
            olga, vic = _operator_and_viewer(env, guild, rt, tmp_path)
            refused = await vic.slash(channel, "dashboard create", type="alerts")
            assert "**operator**" in refused.response.content
            made = await olga.slash(channel, "dashboard create", type="alerts", interval=30)
            assert "is live" in (made.followups[0].content if made.followups else
                                 made.response.content)  # fmt: skip
            (message,) = _dashboard_messages(channel)
            assert "Alerts" in message.embeds[0].title
            (d,) = await service.store.all()
            assert d.message_ids == (message.id,) and d.interval == 30

            # Still data: the ticks look, nothing is edited.
            edits = _edits(env)
            await env.advance_time(65)
            assert _edits(env) == edits and service.skipped >= 2

            # An alert arrives: Alertmanager holds it, the webhook's ingest stores it, and the
            # dashboard is refreshed at the next tick (5 s), not at its interval (30 s).
            body = _alert("DashDiskFull", "nas:9100")
            stack.am.api("POST", "alerts", [{k: body[k] for k in ("labels", "annotations")}])
            await rt.ingest.accept(parse_notification({
                "version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "bot",
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                "externalURL": stack.am.url, "alerts": [body],
            }))  # fmt: skip
            await env.advance_time(5)
            assert _edits(env) == edits + 1
            (message,) = _dashboard_messages(channel)
            assert "DashDiskFull" in message.embeds[0].description

            # Deleted by someone: the next refresh posts it anew.
            await env.bot.get_channel(channel.id).get_partial_message(message.id).delete()
            posts = _posts(env, channel.id)
            await olga.slash(channel, "dashboard refresh", id=d.id)
            assert _posts(env, channel.id) == posts + 1
            (reposted,) = _dashboard_messages(channel)
            assert reposted.id != message.id
            (d,) = await service.store.all()
            assert d.message_ids == (reposted.id,)

            # Error 30046 on the edit: posted anew, the refused message deleted.
            env.inject_error("PATCH", f"/channels/{channel.id}/messages/*", status=400,
                             code=30046, message="Maximum number of edits to messages older "
                             "than 1 hour reached. Try again later")  # fmt: skip
            await olga.slash(channel, "dashboard refresh", id=d.id)
            (fresh,) = _dashboard_messages(channel)
            assert fresh.id != reposted.id
            (d,) = await service.store.all()
            assert d.message_ids == (fresh.id,)

            # A restart: a new bot on a new runtime over the same database.
            rt2 = await Runtime.build(settings)
            try:
                rt2.core.gate.roles = rt.core.gate.roles
                await env.restart_bot(HomelabBot(settings, rt2.core))
                service2 = rt2.core.feature(DashboardService)
                assert service2 is not None
                (again,) = await service2.store.all()
                assert again.message_ids == (fresh.id,)
                clicked = await vic.click(fresh, label="Refresh")
                assert clicked.response is not None
                stack.am.api("POST", "alerts", [{"labels": {"alertname": "AfterRestart",
                                                            "instance": "nas:9100"}}])  # fmt: skip
                await env.advance_time(31)
                (shown,) = _dashboard_messages(channel)
                assert "AfterRestart" in shown.embeds[0].description
            finally:
                await rt2.close()
    finally:
        await rt.close()


async def test_a_live_project_dashboard_follows_its_tasks_and_posts_its_charts(
    tmp_path: Path, stack: Stack
) -> None:
    """A project dashboard from the same registry: created live with its three charts, still
    when nothing changes, and edited at the next tick after a task is added (not at 60 s)."""
    settings = _settings(tmp_path, stack)
    rt = await Runtime.build(settings)
    try:
        service = rt.core.feature(DashboardService)
        assert service is not None
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("plans")
            await rt.core.execute(CONSOLE_ACTOR, "project create", {"name": "NAS upgrade"})
            await rt.core.execute(CONSOLE_ACTOR, "dashboard create",
                                  {"type": "project", "target": "NAS upgrade",
                                   "channel": str(channel.id)})  # fmt: skip
            (message,) = _dashboard_messages(channel)
            assert "NAS upgrade" in message.embeds[0].title
            assert {a.filename for a in message.attachments} == {
                "burndown.png", "flow.png", "throughput.png"}  # fmt: skip
            before = {a.filename: (a.id, await a.read()) for a in message.attachments}
            edits = _edits(env)
            await env.advance_time(10)
            assert _edits(env) == edits
            await rt.core.execute(CONSOLE_ACTOR, "task add",
                                  {"project": "NAS upgrade", "title": "Order disks"})  # fmt: skip
            await env.advance_time(5)
            assert _edits(env) == edits + 1
            (message,) = _dashboard_messages(channel)
            fields = {f.name: f.value for f in message.embeds[0].fields}
            assert sum(int(v) for k, v in fields.items() if k in ("backlog", "todo")) == 1
            # The edit carries the charts drawn anew, in place of the old ones (an edit that
            # names no files keeps the old ones: the charts would never move).
            after = {a.filename: (a.id, await a.read()) for a in message.attachments}
            assert after.keys() == before.keys()
            for name in ("burndown.png", "flow.png"):
                assert after[name][0] != before[name][0], name
                assert after[name][1].startswith(PNG) and after[name][1] != before[name][1], name
    finally:
        await rt.close()


def _select(message: Any, route: str) -> Any:
    """The select menu of `message` for the component route `route` (e.g. dash.range)."""
    for row in message.components:
        for item in row.children:
            if f":{route}:" in (getattr(item, "custom_id", None) or ""):
                return item
    raise AssertionError(f"no {route} select on the message")


def _answer_of(result: Any) -> Any:
    """The message a component interaction answered with (its response or first follow-up)."""
    for m in [result.response, *result.followups]:
        if m is not None and getattr(m, "message", None) is not None:
            return m.message
        if m is not None and (m.content or m.embeds or getattr(m, "attachments", None)):
            return m
    raise AssertionError("the interaction had no answer")


async def test_the_fleet_selects_the_host_select_and_the_welcome_button_work_in_simcord(
    tmp_path: Path, stack: Stack
) -> None:
    """On a live fleet dashboard an operator's range choice redraws the message with that range
    (stored for the next refresh), a viewer's is refused, and "chart this" answers with the
    chart's image; a host dashboard's host select keeps its host; the welcome dashboard's
    button grants the configured role (audited), and a role above the bot's is refused with a
    sentence instead of an error."""
    settings = _settings(tmp_path, stack, dashboards={"welcome": {"text": "Be kind."}})
    rt = await Runtime.build(settings)
    try:
        service = rt.core.feature(DashboardService)
        assert service is not None
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("fleet")
            olga, vic = _operator_and_viewer(env, guild, rt, tmp_path)
            await olga.slash(channel, "dashboard create", type="fleet")
            (message,) = _dashboard_messages(channel)
            (d,) = await service.store.all()
            assert _select(message, "dash.range").placeholder == "Range: last 1h"

            refused = await vic.select(message, ["6h"], custom_id=_select(message, "dash.range")
                                       .custom_id)  # fmt: skip
            assert "operator" in (_answer_of(refused).content or "")
            chosen = await olga.select(message, ["6h"], custom_id=_select(message, "dash.range")
                                       .custom_id)  # fmt: skip
            assert chosen.response is not None
            (message,) = _dashboard_messages(channel)
            assert _select(message, "dash.range").placeholder == "Range: last 6h"
            (d,) = await service.store.all()
            assert d.params.range == "6h"

            chart = _select(message, "dash.chart")
            assert "cpu|nas" in [o.value for o in chart.options]
            drawn = _answer_of(await vic.select(message, ["cpu|nas"], custom_id=chart.custom_id))
            (png,) = drawn.attachments
            assert png.filename.endswith(".png")
            assert _png_size(await png.read())[0] >= 1000

            await olga.slash(channel, "dashboard create", type="host", target="nas")
            host_message = next(m for m in _dashboard_messages(channel) if m.id != message.id)
            host_select = _select(host_message, "dash.host")
            assert [o.value for o in host_select.options] == ["nas"]
            await olga.select(host_message, ["nas"], custom_id=host_select.custom_id)
            host = next(x for x in await service.store.all() if x.params.type == "host")
            assert host.params.target == "nas"

            # The welcome dashboard: a role below the bot's is granted, one above it refused.
            member = guild.create_role("member")
            service.welcome = replace(service.welcome, accept_role_id=member.id)
            await olga.slash(channel, "dashboard create", type="welcome")
            welcome = next(m for m in _dashboard_messages(channel)
                           if m.embeds and m.embeds[0].title == "Welcome")  # fmt: skip
            assert "Be kind." in welcome.embeds[0].description
            accepted = _answer_of(await vic.click(welcome, label="I accept the rules"))
            assert "Welcome!" in (accepted.content or "")
            # Discord's record of the member (the bot keeps no member cache: no members intent).
            assert member.id in env.backend.get_member(guild.id, vic.id).role_ids
            records = [e.record for e in await SqliteAuditRepository(rt.db).tail(30)]
            accepts = [r for r in records if r.action == "component welcome.accept"]
            assert accepts and accepts[-1].actor.startswith("vic ") and accepts[-1].outcome == "ok"

            above = guild.create_role("above", position=10)
            service.welcome = replace(service.welcome, accept_role_id=above.id)
            said = _answer_of(await olga.click(welcome, label="I accept the rules"))
            assert "Manage Roles" in (said.content or "")
            assert above.id not in env.backend.get_member(guild.id, olga.id).role_ids
    finally:
        await rt.close()


class _LoggedIn:
    """What ChannelTarget needs of the bot, from a discord.py client logged in over HTTP to
    the fake Discord (no gateway: the fake's READY carries no guilds anyway)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def wait_until_ready(self) -> None:
        return None

    def get_partial_messageable(self, channel_id: int) -> Any:
        return self.client.get_partial_messageable(channel_id)


async def test_twenty_dashboards_never_burst_the_channel_bucket_of_the_fake_discord(
    tmp_path: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty alerts dashboards in one channel, through discord.py to the local fake of Discord
    that enforces the per-channel message bucket (Discord's 5 per 5 s, here with time ten
    times faster: ticks every 0.5 s, 5 per 0.5 s): their first posts and the 20 edits an alert
    urges at once go out at most 2 a tick, the bucket is never emptied, nothing is refused
    with a 429, and every dashboard ends up showing the alert."""
    import asyncio

    import discord

    from bot.interfaces.discord.delivery import ChannelTarget
    from tests.harness.fakediscord import FakeDiscord

    token, channel_id = "canary-dash-Wq8rT3xW9vKp2LmN", 7700000000000000001
    tick_real, limit = 0.5, 5
    settings = _settings(tmp_path, stack)
    async with FakeDiscord(token, channel_ids=[channel_id]) as fake, \
            await Runtime.build(settings) as rt:  # fmt: skip
        fake.channel_rate(limit=limit, per=tick_real)
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        client = discord.Client(intents=discord.Intents.none())
        await client.login(token)
        try:
            service = rt.core.feature(DashboardService)
            assert service is not None and service.schedule.per_channel == 2
            service.attach(lambda c: ChannelTarget(_LoggedIn(client), c, replace_files=True))
            made = [await service.store.add(channel_id, Params("alerts"), 60, "olga", 0.0)
                    for _ in range(20)]  # fmt: skip
            message_requests = ("POST", "PATCH", "DELETE")

            def sent() -> list[Any]:
                return [r for r in fake.requests
                        if r.method in message_requests and f"/channels/{channel_id}/" in r.path]

            now, per_tick = 1_000_000.0, []

            async def tick() -> None:
                nonlocal now
                started, before = time.monotonic(), len(sent())
                await service.tick(now)
                per_tick.append(len(sent()) - before)
                now += 5.0
                await asyncio.sleep(max(0.0, tick_real - (time.monotonic() - started)))

            for _ in range(13):  # 65 s of the dashboards' clock: every first post is out
                await tick()
            boards = await service.store.all()
            assert all(len(d.message_ids) == 1 for d in boards), boards
            assert len(fake.messages(channel_id)) == 20

            body = _alert("BucketAlert", "nas:9100")
            stack.am.api("POST", "alerts", [{k: body[k] for k in ("labels", "annotations")}])
            await rt.ingest.accept(parse_notification({
                "version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "bot",
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                "externalURL": stack.am.url, "alerts": [body],
            }))  # fmt: skip
            for _ in range(11):  # all twenty urged at once
                await tick()
        finally:
            await client.close()
        shown = fake.messages(channel_id)
        assert len(shown) == 20 and all(
            "BucketAlert" in m.embeds[0]["description"] for m in shown), shown  # fmt: skip
        assert max(per_tick) == 2 and sum(per_tick) == 40, per_tick
        assert [r for r in fake.requests if r.status == 429] == []
        times = sorted(r.at for r in sent())
        most = max(sum(1 for t in times if s <= t < s + tick_real) for s in times)
        assert most < limit, f"{most} message requests within {tick_real} s"
        assert {d.id for d in made} == {d.id for d in await service.store.all()}
