"""An alert burst through the real bot into a rate-limited Discord, against one message per alert.

The real `homelab-bot run` runs as a subprocess, its discord.py pointed at the local fake of
Discord (tests/harness/fakediscord.py) by a bootstrap line that overrides
`discord.http.Route.BASE` and the gateway URL, as the delivery wire tests do. The fake allows
`limit` message requests per `per` seconds per channel (Discord's usual 5 per 2 s), and counts
every request and its status. The burst goes in as Alertmanager sends it: notifications of up
to 10 alerts, all distinct fingerprints, POSTed to the bot's webhook with its bearer token, all
at once. Everything is routed to one channel.

Reported: alerts lost or duplicated (each must show exactly once in the channel's messages),
the webhook's answers, the message requests and their statuses (429s apart from other 4xx),
requests per alert, and the time to drain: the first message request's arrival to the last
request's answer. The baseline, in the same run and against the same fake (another channel,
same limits): what a bridge without packing does, one `channel.send` per alert through
discord.py, sequentially, each with the alert's embed.

Example::

    result = compare(alerts=1000)
    print(format_table(result))
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord

from bench.botproc import CHANNEL, GUILD, HOOK_TOKEN, TOKEN, start_bot
from bench.webhook import notification
from tests.harness.fakediscord import FakeDiscord, PostedMessage, Recorded

TARGET_REQUESTS_PER_ALERT = 0.1
BASELINE_CHANNEL = 555555555555555559  # the naive sender's
PER_NOTIFICATION = 10
_INSTANCE = re.compile(r"host(\d+)-(\d+):9100")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One way of delivering the burst, as the fake Discord saw it."""

    name: str
    alerts: int
    shown: int  # distinct alerts visible in the channel
    duplicates: int  # alerts shown more than once (extra showings)
    messages: int
    requests: int
    statuses: dict[int, int]
    drain_seconds: float

    @property
    def lost(self) -> int:
        """Alerts that never showed."""
        return self.alerts - self.shown

    @property
    def rejected_4xx(self) -> int:
        """4xx answers other than 429."""
        return sum(n for s, n in self.statuses.items() if 400 <= s < 500 and s != 429)

    @property
    def rate_limited(self) -> int:
        """429 answers."""
        return self.statuses.get(429, 0)

    @property
    def requests_per_alert(self) -> float:
        """Message requests per alert."""
        return self.requests / self.alerts if self.alerts else float("nan")


@dataclass(frozen=True, slots=True)
class Comparison:
    """The bot against one message per alert, same fake, same limits."""

    limit: int
    per: float
    webhook_statuses: dict[int, int]
    bot: Delivery
    baseline: Delivery

    def ratio(self, key: str) -> float:
        """bot / baseline for "requests" or "drain"."""
        attr = {"requests": "requests", "drain": "drain_seconds"}[key]
        base = float(getattr(self.baseline, attr))
        return float(getattr(self.bot, attr)) / base if base else float("nan")


def shown_alerts(messages: Sequence[PostedMessage]) -> Counter[str]:
    """How often each alert (host<n>-<k>) shows in the messages' embeds."""
    seen: Counter[str] = Counter()
    for m in messages:
        for e in m.embeds:
            text = json.dumps(e).replace("\\\\", "")
            seen.update({hit.group(0) for hit in _INSTANCE.finditer(text)})
    return seen


def delivery(
    name: str, alerts: int, fake: FakeDiscord, channel: int, requests: Sequence[Recorded],
    answered: float,
) -> Delivery:  # fmt: skip
    """Count what reached `channel`; `answered` is when the last request was answered."""
    seen = shown_alerts(fake.messages(channel))
    prefix = f"/api/v10/channels/{channel}/messages"
    mine = [r for r in requests if r.path.startswith(prefix)]
    drain = answered - mine[0].at if mine else 0.0
    return Delivery(
        name=name,
        alerts=alerts,
        shown=len(seen),
        duplicates=sum(n - 1 for n in seen.values()),
        messages=len(fake.messages(channel)),
        requests=len(mine),
        statuses=dict(Counter(r.status for r in mine)),
        drain_seconds=drain,
    )


async def _burst(url: str, alerts: int) -> dict[int, int]:
    """POST the burst as notifications of up to PER_NOTIFICATION alerts, all at once."""
    headers = {"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"}
    sizes = [min(PER_NOTIFICATION, alerts - i) for i in range(0, alerts, PER_NOTIFICATION)]
    async with aiohttp.ClientSession() as session:

        async def one(n: int, size: int) -> int:
            async with session.post(url, data=notification(n, size), headers=headers) as r:
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(one(n, size) for n, size in enumerate(sizes)))
    return dict(Counter(statuses))


async def _bot_way(fake: FakeDiscord, tmp: Path, alerts: int) -> tuple[dict[int, int], Delivery]:
    bot = await start_bot(fake, tmp)
    try:
        webhook = await _burst(bot.webhook_url, alerts)
        answered = [0.0]

        async def drained() -> bool:
            done = len(shown_alerts(fake.messages(CHANNEL))) >= alerts
            if done and not answered[0]:
                answered[0] = time.monotonic()
            return done

        try:
            await bot.until("delivery of every alert", drained, 60 + alerts)
        except RuntimeError:
            if webhook.get(200, 0) * PER_NOTIFICATION >= alerts:
                raise
        await asyncio.sleep(1.0)  # anything sent late (a duplicate) shows too
        return webhook, delivery("homelab-bot", alerts, fake, CHANNEL, fake.requests,
                                 answered[0] or time.monotonic())  # fmt: skip
    finally:
        await bot.stop()


async def _naive_way(fake: FakeDiscord, alerts: int) -> Delivery:
    """One discord.py `send` per alert, in order, each carrying that alert's embed."""
    old_base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base  # type: ignore[misc]
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(TOKEN)
        channel = client.get_partial_messageable(BASELINE_CHANNEL)
        for i in range(alerts):
            n, k = divmod(i, PER_NOTIFICATION)
            a = json.loads(notification(n, k + 1))["alerts"][k]
            embed = discord.Embed(
                title=f"[FIRING] {a['labels']['alertname']} on {a['labels']['instance']}",
                description=a["annotations"]["description"],
                colour=0xF39C12,
            )
            embed.add_field(name="Summary", value=a["annotations"]["summary"], inline=False)
            labels = ", ".join(f"{name}={value}" for name, value in a["labels"].items())
            embed.add_field(name="Labels", value=labels, inline=False)
            await channel.send(content=f"[FIRING:1] {a['labels']['alertname']}", embed=embed)
        answered = time.monotonic()
    finally:
        await client.close()
        discord.http.Route.BASE = old_base  # type: ignore[misc]
    return delivery("one message per alert", alerts, fake, BASELINE_CHANNEL, fake.requests,
                    answered)  # fmt: skip


async def _compare(alerts: int, limit: int, per: float, tmp: Path) -> Comparison:
    channels = [CHANNEL, BASELINE_CHANNEL]
    async with FakeDiscord(TOKEN, guild_ids=[GUILD], channel_ids=channels) as fake:
        fake.channel_rate(limit, per)
        webhook, bot = await _bot_way(fake, tmp, alerts)
        baseline = await _naive_way(fake, alerts)
    return Comparison(limit, per, webhook, bot, baseline)


def compare(
    alerts: int = 1000, limit: int = 5, per: float = 2.0, workdir: Path | None = None
) -> Comparison:
    """Run the bot's way, then the naive way, against one fake allowing `limit` per `per` s."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="bench-burst-"))
    return asyncio.run(_compare(alerts, limit, per, tmp))


def format_table(c: Comparison) -> str:
    """The figures, the ratios and the targets."""
    b, o = c.baseline, c.bot
    statuses = ", ".join(f"{n} x {s}" for s, n in sorted(c.webhook_statuses.items()))
    lines = [
        f"Alert burst: {o.alerts} alerts to one channel, fake Discord allowing {c.limit} message "
        f"requests per {c.per:g} s per channel; webhook answers: {statuses}",
        f"{'':24}{'one per alert':>15}{'homelab-bot':>13}{'ratio':>9}",
    ]
    rows: list[tuple[str, float, float, str]] = [
        ("message requests", b.requests, o.requests, f"{c.ratio('requests'):8.3f}x"),
        ("drain seconds", b.drain_seconds, o.drain_seconds, f"{c.ratio('drain'):8.3f}x"),
        ("requests per alert", b.requests_per_alert, o.requests_per_alert, ""),
        ("messages", b.messages, o.messages, ""),
        ("alerts lost", b.lost, o.lost, ""),
        ("alerts duplicated", b.duplicates, o.duplicates, ""),
        ("429 answers", b.rate_limited, o.rate_limited, ""),
        ("other 4xx answers", b.rejected_4xx, o.rejected_4xx, ""),
    ]
    for label, base_v, our_v, ratio in rows:
        fmt = ".3f" if isinstance(base_v, float) or isinstance(our_v, float) else "d"
        lines.append(f"{label:<24}{base_v:>15{fmt}}{our_v:>13{fmt}} {ratio}")
    verdict = (
        o.lost == 0 and o.duplicates == 0 and o.rejected_4xx == 0
        and o.requests_per_alert <= TARGET_REQUESTS_PER_ALERT
        and c.webhook_statuses == {200: len(range(0, o.alerts, PER_NOTIFICATION))}
    )  # fmt: skip
    lines.append(
        f"targets (0 lost, 0 duplicated, 0 4xx, <= {TARGET_REQUESTS_PER_ALERT} requests per "
        f"alert, every notification 200): {'met' if verdict else 'MISSED'}"
    )
    return "\n".join(lines)


def main(alerts: int = 1000) -> int:
    """Run and print; exit 1 when an alert was lost or duplicated, or a 4xx was answered."""
    c = compare(alerts)
    print(format_table(c))
    o = c.bot
    return 0 if o.lost == 0 and o.duplicates == 0 and o.rejected_4xx == 0 else 1
