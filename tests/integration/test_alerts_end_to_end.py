"""An alert's whole life with real services: a real Prometheus evaluates a real rule, a
two-node Alertmanager cluster (deploy/alertmanager.yml as `make run` generates it) posts to
the real receiver, the delivery worker posts into simcord's Discord, Silence 1h from the
message makes an Alertmanager silence visible on both nodes, Unsilence expires it, and the
resolution edits the same message: one message for the cluster's notifications.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
import yaml
from prometheus_client import Gauge

from bot.domain.alerts.routing import Destination
from bot.interfaces.alert_targets import AlertTargets
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime, role_map
from bot.interfaces.web.alerts import AlertReceiver, WebhookAuth
from bot.interfaces.web.server import WebServer, build_app
from bot.services.delivery import DeliveryWorker, Routing
from homelab.stack import alertmanager_config
from tests.bot.conftest import make_settings
from tests.harness.services import Alertmanager, Prometheus, free_port

pytestmark = pytest.mark.integration

TOKEN = "canary-e2e-Lm2Qw8Zr5Tk1Xp7V"
RULES = {
    "groups": [
        {
            "name": "e2e",
            "interval": "1s",
            "rules": [
                {
                    "alert": "HomelabE2E",
                    "expr": "homelab_e2e_trigger > 0.5",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "{{ $labels.instance }}: trigger at {{ $value }}",
                        "description": "The end-to-end test raised its trigger.",
                        "runbook_url": "https://example.org/runbook#homelabe2e",
                    },
                }
            ],
        }
    ]
}


def cluster_config(var: Path, webhook_port: int) -> dict[str, Any]:
    """deploy/alertmanager.yml as make run writes it, aimed at this test's receiver, fast."""
    secrets = var / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "alertmanager-webhook-token").write_text(TOKEN + "\n")
    cfg = yaml.safe_load(alertmanager_config(var)[0])
    hook = cfg["receivers"][0]["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials_file"].endswith("webhook-token")
    hook["url"] = f"http://127.0.0.1:{webhook_port}/webhooks/alertmanager"

    def fast(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for sub in route.get("routes", []):
            fast(sub)

    fast(cfg["route"])
    return cfg


async def until(what: str, check: Callable[[], Any], within: float = 60) -> Any:
    """Poll `check` (sync) until truthy; fail naming `what`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.25)
    pytest.fail(f"no {what} within {within} s")


def bot_messages(channel: Any) -> list[discord.Message]:
    """The bot's public messages in the channel, oldest first."""
    return [m for m in channel.history() if m.author.bot and not m.flags.ephemeral]


async def test_fire_silence_unsilence_resolve_in_discord(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """The firing message arrives once, buttons reach Alertmanager, resolution edits it."""
    web_port = free_port()
    cfg = cluster_config(tmp_path / "var", web_port)
    am1 = start_service(Alertmanager, config=cfg, cluster=True)
    am2 = start_service(Alertmanager, config=cfg, cluster=True, peers=[am1.cluster_address])
    token_file = tmp_path / "var" / "secrets" / "alertmanager-webhook-token"
    settings = make_settings(
        tmp_path, alerts={"credentials_file": str(token_file), "alertmanager_url": am1.url}
    )
    rules = tmp_path / "e2e.yml"
    rules.write_text(yaml.safe_dump(RULES))
    rt = await Runtime.build(settings)
    trigger = Gauge("homelab_e2e_trigger", "the test's alert trigger", registry=rt.registry)
    receiver = AlertReceiver(
        rt.ingest, WebhookAuth.from_settings(settings.alerts), rt.alert_metrics
    )
    web = WebServer(build_app(rt.registry, rt.health, receiver.routes()), "127.0.0.1", web_port)
    await web.start()
    start_service(
        Prometheus,
        scrape_configs=[
            {"job_name": "homelab-bot", "static_configs": [{"targets": [f"127.0.0.1:{web_port}"]}]}
        ],
        rule_files=[rules],
        alertmanagers=[am1.address, am2.address],
    )
    # both nodes must know each other before they can deduplicate between them
    await until(
        "a two-node cluster", lambda: len(am1.api("GET", "status")["cluster"]["peers"]) == 2
    )
    try:
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("alerts")
            op_role = guild.create_role("ops")
            env.bot.core.gate.roles = role_map(
                make_settings(tmp_path, roles={"operator": {"role_ids": [op_role.id]}})
            )
            olga = guild.add_member(env.create_user("olga"), roles=[op_role])
            targets = AlertTargets(settings, bot=env.bot)
            worker = DeliveryWorker(
                rt.outbox, targets, Routing(default=Destination(channel_id=channel.id)),
                rt.alert_metrics, wakeup=rt.alerts_waiting, idle_seconds=0.2,
            )  # fmt: skip
            task = asyncio.create_task(worker.run())
            try:
                trigger.set(1)
                firing = await until("the firing message", lambda: bot_messages(channel))
                await asyncio.sleep(3)  # both nodes have notified by now
                (message,) = bot_messages(channel)
                embed = message.embeds[0]
                assert "FIRING" in (embed.title or "") and "HomelabE2E" in (embed.title or "")
                assert firing[0].id == message.id

                clicked = await olga.click(message, label="Silence 1h")
                assert clicked.acknowledged
                silences = await until(
                    "the silence on both nodes",
                    lambda: [
                        s for s in am2.api("GET", "silences") if s["status"]["state"] == "active"
                    ],
                )
                names = {m["name"]: m["value"] for m in silences[0]["matchers"]}
                assert names["alertname"] == "HomelabE2E" and "olga" in silences[0]["createdBy"]
                assert [
                    s["id"] for s in am1.api("GET", "silences") if s["status"]["state"] == "active"
                ] == [silences[0]["id"]]
                await until(
                    "the silence shown",
                    lambda: "olga" in str(bot_messages(channel)[0].embeds[0].to_dict()),
                )

                refreshed = bot_messages(channel)[0]
                await olga.click(refreshed, label="Unsilence")
                await until(
                    "the silence expired",
                    lambda: all(
                        s["status"]["state"] == "expired" for s in am1.api("GET", "silences")
                    ),
                )

                trigger.set(0)
                await until(
                    "the resolved edit",
                    lambda: "RESOLVED" in (bot_messages(channel)[0].embeds[0].title or ""),
                )
                assert len(bot_messages(channel)) == 1  # edited in place, never posted anew
                stats = await rt.outbox.stats(time.time())
                assert stats.depth == 0
                delivered = rt.registry.get_sample_value("homelab_bot_alerts_delivered_total")
                received = rt.registry.get_sample_value("homelab_bot_alerts_received_total")
                assert delivered is not None and delivered >= 2
                assert received is not None and received >= 2  # firing and resolved, at least
            finally:
                task.cancel()
                await targets.close()
    finally:
        await web.stop()
        await rt.close()
