"""The buttons on an alert message and the alert commands, in simcord, against a real
Alertmanager (and a real Prometheus for the graph).

Alerts are posted to Alertmanager's API; Alertmanager notifies the real receiver, the
delivery worker posts into simcord's Discord, and members click what they see.

Example::

    async with alert_world(tmp_path, start_service) as w:
        w.post_alerts([alert("DiskFull", w.instance)])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
from prometheus_client import Gauge

from bot.adapters.sqlite import SqliteAuditRepository
from bot.domain.alerts.routing import Destination
from bot.interfaces.alert_targets import AlertTargets
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime, role_map
from bot.interfaces.web.alerts import AlertReceiver, WebhookAuth
from bot.interfaces.web.server import WebServer, build_app
from bot.services.delivery import DeliveryWorker, Routing
from tests.bot.conftest import make_settings
from tests.harness.services import Alertmanager, Prometheus, free_port
from tests.integration.test_alerts_end_to_end import bot_messages, until

pytestmark = pytest.mark.integration

TOKEN = "canary-buttons-Qz8Lm2Wx5Rt"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def am_config(token_file: Path, webhook_port: int) -> dict[str, Any]:
    """One Alertmanager posting to the receiver, grouped as deploy/ groups, fast."""
    return {
        "route": {
            "receiver": "bot",
            "group_by": ["alertname", "instance"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "bot",
                "webhook_configs": [
                    {
                        "url": f"http://127.0.0.1:{webhook_port}/webhooks/alertmanager",
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials_file": str(token_file)}},
                    }
                ],
            }
        ],
    }


def alert(name: str, instance: str, expr: str = "homelab_buttons_level", **labels: str) -> Any:
    """An alert as Prometheus posts it to Alertmanager's API, with its generator URL."""
    return {
        "labels": {"alertname": name, "instance": instance, "severity": "critical", **labels},
        "annotations": {"summary": f"{name} on {instance}"},
        "generatorURL": f"http://prometheus.example/graph?g0.expr={expr}&g0.tab=1",
    }


@dataclass
class World:
    """The services, the runtime and simcord's guild of one test."""

    rt: Runtime
    am: Alertmanager
    env: Any
    channel: Any
    viewer: Any
    operator: Any
    instance: str
    prom: Prometheus | None = None

    def post_alerts(self, alerts: list[Any]) -> None:
        """POST alerts to Alertmanager's API, as Prometheus does."""
        self.am.api("POST", "alerts", alerts)

    def active_silences(self) -> list[Any]:
        """Alertmanager's active silences."""
        return [s for s in self.am.api("GET", "silences") if s["status"]["state"] == "active"]

    async def message(self) -> discord.Message:
        """The bot's one alert message, once the worker has posted it."""
        (m,) = await until("the alert message", lambda: bot_messages(self.channel))
        return m


@asynccontextmanager
async def alert_world(
    tmp_path: Path, start_service: Callable[..., Any], *, prometheus: bool = False
) -> AsyncIterator[World]:
    """Alertmanager -> receiver -> outbox -> worker -> simcord; Prometheus scrapes a gauge."""
    web_port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    am = start_service(Alertmanager, config=am_config(token_file, web_port))
    prom_settings: dict[str, Any] = {}
    prom = None
    if prometheus:
        prom = start_service(
            Prometheus,
            scrape_configs=[
                {
                    "job_name": "homelab-bot",
                    "scrape_interval": "1s",
                    "static_configs": [{"targets": [f"127.0.0.1:{web_port}"]}],
                }
            ],
        )
        prom_settings = {"prometheus": {"url": prom.url, "timeout_seconds": 2.0}}
    settings = make_settings(
        tmp_path,
        alerts={"credentials_file": str(token_file), "alertmanager_url": am.url},
        **prom_settings,
    )
    rt = await Runtime.build(settings)
    level = Gauge("homelab_buttons_level", "the test's series", registry=rt.registry)
    level.set(0.93)
    receiver = AlertReceiver(
        rt.ingest, WebhookAuth.from_settings(settings.alerts), rt.alert_metrics
    )
    web = WebServer(build_app(rt.registry, rt.health, receiver.routes()), "127.0.0.1", web_port)
    await web.start()
    try:
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("alerts")
            op_role = guild.create_role("ops")
            env.bot.core.gate.roles = role_map(
                make_settings(tmp_path, roles={"operator": {"role_ids": [op_role.id]}})
            )
            viewer = guild.add_member(env.create_user("vic"))
            operator = guild.add_member(env.create_user("olga"), roles=[op_role])
            targets = AlertTargets(settings, bot=env.bot)
            worker = DeliveryWorker(
                rt.outbox, targets, Routing(default=Destination(channel_id=channel.id)),
                rt.alert_metrics, wakeup=rt.alerts_waiting, idle_seconds=0.2,
            )  # fmt: skip
            task = asyncio.create_task(worker.run())
            try:
                yield World(rt, am, env, channel, viewer, operator, f"127.0.0.1:{web_port}", prom)
            finally:
                task.cancel()
                await targets.close()
    finally:
        await web.stop()
        await rt.close()


async def audit_tail(rt: Runtime, n: int = 20) -> list[Any]:
    """The latest audit records, oldest first."""
    return [e.record for e in await SqliteAuditRepository(rt.db).tail(n)]


def text_of(result: Any) -> str:
    """Everything a click's answers say (response and follow-ups, content and embeds)."""
    parts = []
    for m in [result.response, *result.followups]:
        if m is not None:
            parts.append(m.content or "")
            parts += [str(e.to_dict()) for e in m.embeds]
    return "\n".join(parts)


def modal_inputs(shown: Any) -> dict[str, str]:
    """The modal's text inputs: label -> custom_id."""
    out: dict[str, str] = {}

    def walk(nodes: list[Any]) -> None:
        for n in nodes:
            if n.get("type") == 4:
                out[n["label"]] = n["custom_id"]
            if "component" in n:
                walk([n["component"]])
            walk(n.get("components", []))

    walk(shown.modal["components"])
    return out


async def test_silence_form_creates_the_typed_silence(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """Silence… opens a modal; 90m and a comment make that silence, shown on the message."""
    async with alert_world(tmp_path, start_service) as w:
        w.post_alerts([alert("HomelabDiskFull", w.instance)])
        message = await w.message()

        shown = await w.operator.click(message, label="Silence\u2026")
        assert shown.modal is not None, shown
        inputs = modal_inputs(shown)
        assert inputs == {"Duration": "duration", "Comment": "comment"}, inputs

        bad = await w.operator.submit_modal(shown, {"duration": "banana", "comment": "x"})
        assert "banana" in text_of(bad) and "90m" in text_of(bad), text_of(bad)
        assert all(m.ephemeral for m in [bad.response, *bad.followups] if m is not None)
        assert w.active_silences() == []

        shown = await w.operator.click(await w.message(), label="Silence\u2026")
        now = time.time()
        done = await w.operator.submit_modal(
            shown, {"duration": "90m", "comment": "disk swap tonight"}
        )
        assert "Silenced" in text_of(done), text_of(done)
        (silence,) = await until("the silence", w.active_silences)
        ends = time.mktime(time.strptime(silence["endsAt"][:19], "%Y-%m-%dT%H:%M:%S"))
        ends -= time.timezone
        assert abs(ends - (now + 90 * 60)) < 60, silence["endsAt"]
        assert silence["comment"] == "disk swap tonight" and "olga" in silence["createdBy"]
        await until(
            "the silence shown on the message",
            lambda: "olga" in str(bot_messages(w.channel)[0].embeds[0].to_dict()),
        )
        labels = [c.label for r in (await w.message()).components for c in r.children]
        assert "Unsilence" in labels, labels


async def test_viewer_is_refused_silence_and_the_refusal_is_audited(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """A viewer's Silence names the operator role, creates nothing, and is in the audit log."""
    async with alert_world(tmp_path, start_service) as w:
        w.post_alerts([alert("HomelabDiskFull", w.instance)])
        message = await w.message()
        for label in ("Silence 1h", "Silence\u2026"):
            refused = await w.viewer.click(message, label=label)
            assert refused.modal is None
            assert "operator" in text_of(refused).lower(), text_of(refused)
        assert w.active_silences() == []
        records = await audit_tail(w.rt)
        refusals = [r for r in records if r.actor.startswith("vic ")]
        assert [r.action for r in refusals] == [
            "component alert.silence",
            "component alert.silence_form",
        ], records
        assert all(r.outcome == "refused: needs operator" for r in refusals), refusals


async def test_ack_shows_the_operator_and_is_audited(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """Ack by olga shows her name on the message and writes an audit row."""
    async with alert_world(tmp_path, start_service) as w:
        w.post_alerts([alert("HomelabDiskFull", w.instance)])
        acked = await w.operator.click(await w.message(), label="Ack")
        assert "Acknowledged" in text_of(acked), text_of(acked)
        await until(
            "olga on the message",
            lambda: "olga" in str(bot_messages(w.channel)[0].embeds[0].to_dict()),
        )
        records = await audit_tail(w.rt)
        acks = [r for r in records if r.action == "component alert.ack"]
        assert acks and all(r.actor.startswith("olga ") for r in acks), records
        assert [r.outcome for r in acks] == ["started", "ok"], acks


async def test_graph_answers_privately_with_a_png(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """Graph draws the alert's series from a real Prometheus and answers privately with a PNG."""
    async with alert_world(tmp_path, start_service, prometheus=True) as w:
        prom = w.prom
        assert prom is not None
        await until("the series in Prometheus", lambda: prom.query("homelab_buttons_level"))
        w.post_alerts([alert("HomelabLevelHigh", w.instance, expr="homelab_buttons_level > 0.9")])
        graphed = await w.viewer.click(await w.message(), label="Graph")
        answers = [m for m in [graphed.response, *graphed.followups] if m is not None]
        with_files = [m for m in answers if m.attachments]
        assert with_files and all(m.ephemeral for m in answers), graphed
        png = await with_files[0].attachments[0].read()
        assert png.startswith(PNG_MAGIC)
        (tmp_path / "graph.png").write_bytes(png)


async def test_pick_answers_with_one_alerts_buttons(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """A message packing 3 alerts has the pick select; picking one gives its buttons privately."""
    async with alert_world(tmp_path, start_service) as w:
        w.post_alerts(
            [alert("HomelabDiskFull", w.instance, mountpoint=f"/srv/{n}") for n in range(3)]
        )
        message = await until(
            "3 alerts on one message",
            lambda: [m for m in bot_messages(w.channel) if len(m.embeds) == 3],
        )
        (select,) = [c for r in message[0].components for c in r.children]
        assert isinstance(select, discord.SelectMenu) and len(select.options) == 3
        chosen = select.options[1]
        picked = await w.operator.select(message[0], [chosen.value])
        answers = [m for m in [picked.response, *picked.followups] if m is not None]
        assert answers and all(m.ephemeral for m in answers), picked
        ids = [c.custom_id for m in answers for r in m.message.components for c in r.children]
        assert f"hl:alert.ack:{chosen.value}" in ids, ids

        # the private copy's buttons work: Ack there shows olga on that alert of the message
        private = next(m for m in answers if m.message.components)
        await w.operator.click(private, custom_id=f"hl:alert.ack:{chosen.value}")

        def acked_embed() -> list[Any]:
            (m,) = [m for m in bot_messages(w.channel) if len(m.embeds) == 3]
            return [e for e in m.embeds if "olga" in str(e.to_dict())]

        (embed,) = await until("olga on the picked alert", acked_embed)
        assert chosen.value in str(embed.to_dict()), embed.to_dict()


async def test_two_open_silence_forms_each_silence_their_own_alert(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """Silence… opened on two alerts before either is submitted: submitting the first form
    silences the first alert (discord.py keys open modals by custom id alone, so two forms
    with one id would send the first answer to the second form and silence the wrong alert)."""
    async with alert_world(tmp_path, start_service) as w:
        w.post_alerts([alert("HomelabDiskFull", w.instance)])
        await w.message()
        w.post_alerts([alert("HomelabFanStuck", w.instance)])
        await until("two alert messages", lambda: len(bot_messages(w.channel)) == 2)
        by_name = {
            ("DiskFull" if "DiskFull" in m.content else "FanStuck"): m
            for m in bot_messages(w.channel)
        }
        first = await w.operator.click(by_name["DiskFull"], label="Silence\u2026")
        second = await w.operator.click(by_name["FanStuck"], label="Silence\u2026")
        assert first.modal is not None and second.modal is not None
        done = await w.operator.submit_modal(first, {"duration": "1h", "comment": "disk"})
        assert "HomelabDiskFull" in text_of(done), text_of(done)
        (silence,) = await until("the silence", w.active_silences)
        names = {m["value"] for m in silence["matchers"] if m["name"] == "alertname"}
        assert names == {"HomelabDiskFull"}, silence["matchers"]
        done = await w.operator.submit_modal(second, {"duration": "1h", "comment": "fan"})
        assert "HomelabFanStuck" in text_of(done), text_of(done)
