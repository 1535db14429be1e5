"""Alert delivery on the wire: the real `homelab-bot run` with a token, its webhook fed by the
test, its messages sent through discord.py to the local fake of Discord
(tests/harness/fakediscord.py), which enforces Discord's limits and injects 429s (with Via),
5xx, 403 and 404. Nothing is lost, each alert's order is kept, nothing is duplicated, and a
SIGKILL between commit and send still yields exactly one message.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.bot.domain.alerts.test_model import PAYLOAD
from tests.harness.fakediscord import FakeDiscord, PostedMessage
from tests.harness.services import Prometheus, free_port, static_job

pytestmark = pytest.mark.integration

TOKEN = "canary-delivery-Wq8rT3xW9vKp2LmN"
HOOK_TOKEN = "canary-hook-3kd8Wm2Qp9Zx7Lr4"
GUILD = 444444444444444444
CHANNEL = 555555555555555555
ADMINS = 555555555555555556
FORBIDDEN = 555555555555555557
GONE = 555555555555555558
HOOKED = 555555555555555559
HOOK_ID = 666666666666666666
# Discord's webhook tokens are 68 characters; discord.py refuses a URL with fewer than 60.
WEBHOOK_TOKEN = "canary-webhook-" + "Zq7Lm2Xw9Rt4Kp8V" * 3 + "Yb5Nc1Hd6Jf3Gs0Ea"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BOOT = (
    "import sys, yarl, discord.http, discord.gateway; "
    "discord.http.Route.BASE = sys.argv.pop(1); "
    "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv.pop(1)); "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)


def alert(fp: str, instance: str, status: str = "firing") -> dict[str, Any]:
    """One alert of PAYLOAD's kind."""
    a = copy.deepcopy(PAYLOAD["alerts"][0])
    a.update(fingerprint=fp, status=status)
    a["labels"] = {**a["labels"], "instance": instance}
    if status == "resolved":
        a["endsAt"] = "2026-12-03T10:20:00Z"
    return a


def body(*alerts: dict[str, Any]) -> bytes:
    """A notification holding `alerts`."""
    doc = copy.deepcopy(PAYLOAD)
    doc["alerts"] = list(alerts)
    doc["status"] = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return json.dumps(doc).encode()


class RunningBot:
    """`homelab-bot run` as a subprocess aimed at the fake."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    async def post(self, data: bytes) -> int:
        """POST a notification with the bearer token; the status."""
        url = f"http://127.0.0.1:{self.port}/webhooks/alertmanager"
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, data=data, headers={"Authorization": f"Bearer {HOOK_TOKEN}"}) as r,
        ):
            return r.status

    async def metric(self, name: str) -> float:
        """One unlabelled sample of the bot's /metrics."""
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{self.port}/metrics") as r,
        ):
            text = await r.text()
        m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    async def until(
        self, what: str, check: Callable[[], Awaitable[bool]], within: float = 60
    ) -> None:
        """Wait until `check()` holds, or fail naming `what` with the bot's log."""
        deadline = asyncio.get_running_loop().time() + within
        while not await check():
            if self.proc.returncode is not None or asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"no {what}:\n{self.log.read_text()[-4000:]}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with the alert channels; 5 messages per 2 s per channel."""
    async with FakeDiscord(TOKEN, guild_ids=[GUILD], channel_ids=[CHANNEL, ADMINS, FORBIDDEN]) as f:
        f.forbid_channel(FORBIDDEN)
        f.channel_rate(limit=5, per=2.0)
        yield f


@pytest.fixture
async def start_bot(
    fake: FakeDiscord, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    """Start (or restart, same database) the bot; killed at the end."""
    procs: list[asyncio.subprocess.Process] = []
    port = free_port()
    (tmp_path / "token").write_text(HOOK_TOKEN + "\n")

    async def start(routes: str = "", prometheus: str = "", auth: str = "") -> RunningBot:
        cfg = tmp_path / "homelab.toml"
        token_file = f'credentials_file = "{tmp_path / "token"}"'
        dead = f"http://127.0.0.1:{free_port()}"  # no Prometheus unless the test gives one
        cfg.write_text(
            f'[bot]\nlog_level = "DEBUG"\ndatabase_path = "{tmp_path / "bot.sqlite3"}"\n'
            f'image_dir = "{tmp_path / "img"}"\n'
            f"[bot.discord]\nguild_ids = [{GUILD}]\n"
            f'[bot.prometheus]\nurl = "{prometheus or dead}"\n'
            f"[bot.alerts]\n{auth or token_file}\n"
            f"default_channel_id = {CHANNEL}\nadmin_channel_id = {ADMINS}\n"
            "retry_base_seconds = 0.2\nretry_max_seconds = 1.0\n"
            f'alertmanager_url = "http://127.0.0.1:{free_port()}"\n' + routes
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
        env.update(HOMELAB_CONFIG=str(cfg), HOMELAB_BOT__DISCORD__TOKEN=TOKEN,
                   HOMELAB_BOT__WEB__PORT=str(port))  # fmt: skip
        log = tmp_path / f"bot{len(procs)}.log"
        with open(log, "wb") as out:  # noqa: ASYNC230 (a log file for the child, once)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", BOOT, fake.api_base, fake.gateway_url, "run",
                env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
            )  # fmt: skip
        procs.append(proc)
        bot = RunningBot(proc, port, log)

        async def healthy() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as s,
                    s.get(f"http://127.0.0.1:{port}/healthz") as r,
                ):
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await bot.until("/healthz", healthy, within=30)
        return bot

    yield start
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


def fingerprints(messages: list[PostedMessage]) -> list[str]:
    """The fingerprints the messages show, in message order (from the alert embeds' titles)."""
    out: list[str] = []
    for m in messages:
        for e in m.embeds:
            for f in e.get("fields", []):
                if f["name"] == "Labels":
                    found = re.search(r"instance=(\S+)", f["value"].replace("\\", ""))
                    if found:
                        out.append(found.group(1))
    return out


async def test_nothing_lost_order_kept_under_429_5xx_and_resolutions(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    """40 alerts through 429s (with Via), 500s and 503s; then each resolves: every alert is in
    exactly one message, messages in arrival order, each edited to resolved, no 4xx sent."""
    path = rf"/channels/{CHANNEL}/messages"
    fake.rate_limit("POST", path + "$", retry_after=0.3, times=2)
    fake.fail("POST", path + "$", 500, times=2)
    fake.fail("POST", path + "$", 503, times=1)
    fake.fail("PATCH", path + r"/\d+$", 502, times=2)
    bot = await start_bot()
    names = [f"host{i:02d}:9100" for i in range(40)]
    for i, name in enumerate(names):
        assert await bot.post(body(alert(f"f{i:04d}", name))) == 200
    for i, name in enumerate(names):
        assert await bot.post(body(alert(f"f{i:04d}", name, "resolved"))) == 200

    async def drained() -> bool:
        return await bot.metric("homelab_bot_alerts_delivered_total") >= 80 and (
            await bot.metric("homelab_bot_alert_outbox_depth") == 0
        )

    await bot.until("every alert delivered and resolved", drained, within=120)
    messages = fake.messages(CHANNEL)
    shown = fingerprints(messages)
    assert sorted(shown) == sorted(names) and len(shown) == len(set(shown))
    assert shown == names  # posted in the order they arrived
    for m in messages:
        titles = [e.get("title", "") for e in m.embeds if e.get("title")]
        assert titles and all("RESOLVED" in t for t in titles), titles
    statuses = [r.status for r in fake.requests if r.path.startswith("/api/v10" + path)]
    assert len(statuses) >= len(messages)
    assert not [s for s in statuses if 400 <= s < 500 and s != 429]
    assert len(messages) < len(names)  # packed, not one request per alert
    assert await bot.metric("homelab_bot_alerts_dead_lettered_total") == 0
    assert await bot.metric("homelab_bot_alerts_retried_total") > 0


async def test_403_and_404_dead_letter_and_tell_the_admins_once(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    """A forbidden and a deleted channel: dead letters, one notice each, not retried forever."""
    routes = (
        f"[[bot.alerts.routes]]\nmatchers = ['instance=~\"locked.*\"']\nchannel_id = {FORBIDDEN}\n"
        f"[[bot.alerts.routes]]\nmatchers = ['instance=~\"gone.*\"']\nchannel_id = {GONE}\n"
    )
    bot = await start_bot(routes)
    assert await bot.post(body(alert("aaaa", "locked:9100"))) == 200
    assert await bot.post(body(alert("bbbb", "gone:9100"))) == 200
    assert await bot.post(body(alert("cccc", "fine:9100"))) == 200

    async def settled() -> bool:
        # the depth gauge is set at the end of a pass: also wait for the good one's delivery
        return (
            await bot.metric("homelab_bot_alerts_dead_lettered_total") == 2
            and await bot.metric("homelab_bot_alerts_delivered_total") >= 1
            and await bot.metric("homelab_bot_alert_outbox_depth") == 0
        )

    await bot.until("two dead letters and one delivery", settled)
    notices = [m.content for m in fake.messages(ADMINS)]
    assert (
        len(notices) == 2 and any("403" in n for n in notices) and any("404" in n for n in notices)
    )
    assert fingerprints(fake.messages(CHANNEL)) == ["fine:9100"]
    await asyncio.sleep(1.5)  # several retry periods: a dead letter is not tried again
    tried = [r for r in fake.requests if r.path.startswith(f"/api/v10/channels/{FORBIDDEN}/")]
    assert len(tried) == 1


async def test_sigkill_between_commit_and_send_gives_exactly_one_message(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    """Discord made the message but the bot died before hearing back: after a restart the
    planned nonce makes Discord return that message, and the channel holds one."""
    fake.stall("POST", rf"/channels/{CHANNEL}/messages$", seconds=8)
    bot = await start_bot()
    assert await bot.post(body(alert("aaaa", "nas:9100"))) == 200
    await asyncio.wait_for(fake.stalled.wait(), 30)
    assert len(fake.messages(CHANNEL)) == 1
    bot.proc.send_signal(signal.SIGKILL)
    await bot.proc.wait()
    again = await start_bot()

    async def delivered() -> bool:
        return await again.metric("homelab_bot_alerts_delivered_total") == 1

    await again.until("the redelivery", delivered)
    assert len(fake.messages(CHANNEL)) == 1
    # the stalled first request is recorded only once answered; the resend carried its nonce
    posts = fake.requests_to("POST", rf"/channels/{CHANNEL}/messages$")
    (made,) = fake.messages(CHANNEL)
    assert posts and posts[-1].json["nonce"] == made.nonce


async def delivered(bot: RunningBot, n: int) -> bool:
    """Whether `n` notifications were delivered and the outbox is empty."""
    return await bot.metric("homelab_bot_alerts_delivered_total") >= n and (
        await bot.metric("homelab_bot_alert_outbox_depth") == 0
    )


async def test_resolved_reply_edits_and_replies_under_the_original(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    """resolved_reply = true: the resolution edits the message and replies under it."""
    bot = await start_bot("resolved_reply = true\n")
    assert await bot.post(body(alert("aaaa", "nas:9100"))) == 200
    await bot.until("the firing message", lambda: delivered(bot, 1))
    (firing,) = fake.messages(CHANNEL)
    assert firing.reference is None
    assert await bot.post(body(alert("aaaa", "nas:9100", "resolved"))) == 200

    async def replied() -> bool:
        return len(fake.messages(CHANNEL)) == 2

    await bot.until("the reply", replied)
    original, reply = fake.messages(CHANNEL)
    assert original.id == firing.id and original.edits >= 1
    assert all("RESOLVED" in e.get("title", "") for e in original.embeds if e.get("title"))
    assert reply.reference == original.id
    assert "resolved" in (reply.content + str(reply.embeds)).lower(), reply


def serve_level(value: float) -> str:
    """Serve a gauge `homelab_hook_level` on a free port (a thread); its host:port."""
    registry = CollectorRegistry()
    Gauge("homelab_hook_level", "the test's series", registry=registry).set(value)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=registry)
    return f"127.0.0.1:{port}"


async def test_webhook_route_posts_with_the_graph_and_edits_in_place(
    fake: FakeDiscord,
    start_bot: Callable[..., Awaitable[RunningBot]],
    start_service: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A webhook_url_file route: the firing message comes through the webhook without
    components and with the graph (drawn from a real Prometheus); the resolution edits it."""
    target = serve_level(0.93)
    prom = start_service(Prometheus, scrape_configs=[static_job("levels", target)])
    url_file = tmp_path / "hook-url"
    url_file.write_text(fake.add_webhook(HOOK_ID, WEBHOOK_TOKEN, HOOKED) + "\n")
    routes = (
        f"[[bot.alerts.routes]]\nmatchers = ['instance=\"{target}\"']\n"
        f'webhook_url_file = "{url_file}"\n'
    )
    bot = await start_bot(routes, prometheus=prom.url)
    await asyncio.to_thread(prom.wait_for, "homelab_hook_level", bool)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30))
    firing = alert("dddd", target)
    firing.update(startsAt=now, generatorURL="http://p/graph?g0.expr=homelab_hook_level+%3E+0.9")
    assert await bot.post(body(firing)) == 200
    await bot.until("the webhook message", lambda: delivered(bot, 1))
    (posted,) = fake.messages(HOOKED)
    assert posted.webhook_id == HOOK_ID and posted.components == ()
    assert fake.messages(CHANNEL) == []
    (attached,) = posted.attachments
    assert attached["filename"].endswith(".png")
    assert posted.files[0].data.startswith(PNG_MAGIC)
    (tmp_path / "webhook-graph.png").write_bytes(posted.files[0].data)

    resolved = {**firing, "status": "resolved", "endsAt": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    assert await bot.post(body(resolved)) == 200
    await bot.until("the resolved edit", lambda: delivered(bot, 2))
    (edited,) = fake.messages(HOOKED)
    assert edited.id == posted.id and edited.edits >= 1 and edited.components == ()
    assert edited.attachments == posted.attachments  # the graph stays on the resolved message
    titles = [e.get("title", "") for e in edited.embeds if e.get("title")]
    assert titles and all("RESOLVED" in t for t in titles), titles


async def test_receiver_token_and_webhook_url_from_the_vault(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    """[bot.alerts] credentials and a route's webhook_url as secret:<name>: Alertmanager's
    bearer token is checked against the vault's, the alert goes out through the webhook whose
    URL only the vault holds, and the outbox names the secret, never the URL."""
    from bot.adapters.vault import Vault

    url = fake.add_webhook(HOOK_ID, WEBHOOK_TOKEN, HOOKED)
    vault = Vault.open(tmp_path / "bot.sqlite3", tmp_path / "vault.key")  # beside the settings
    try:
        vault.set("am-webhook", HOOK_TOKEN)
        vault.set("ops-hook", url)
    finally:
        vault.close()
    routes = "[[bot.alerts.routes]]\nmatchers = ['severity=\"page\"']\n"
    routes += 'webhook_url = "secret:ops-hook"\n'
    bot = await start_bot(routes, auth='credentials = "secret:am-webhook"')
    paged = alert("eeee", "nas:9100")
    paged["labels"]["severity"] = "page"
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"http://127.0.0.1:{bot.port}/webhooks/alertmanager", data=body(paged),
               headers={"Authorization": "Bearer wrong"}) as r,
    ):  # fmt: skip
        assert r.status == 401
    assert await bot.post(body(paged)) == 200
    await bot.until("the webhook message", lambda: delivered(bot, 1))
    (posted,) = fake.messages(HOOKED)
    assert posted.webhook_id == HOOK_ID and fake.messages(CHANNEL) == []
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.sqlite3") as c:
        targets = {r[0] for r in c.execute("SELECT target FROM alert_message")}
        dump = "\n".join(c.iterdump())
    assert targets == {"webhook-secret:ops-hook"}
    assert WEBHOOK_TOKEN not in dump and HOOK_TOKEN not in dump
    assert WEBHOOK_TOKEN not in bot.log.read_text() and HOOK_TOKEN not in bot.log.read_text()
