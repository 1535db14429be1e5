"""Webhook ack latency: the real receiver against a no-op aiohttp handler, at a fixed rate.

Both servers run as their own processes on loopback: `homelab-bot run` (its receiver
authenticates, parses, and commits every alert to SQLite before answering) and a bare
aiohttp application answering 200 to any POST. The bot runs as in production: logged in to
Discord (the local fake, tests/harness/fakediscord.py, 5 message requests per 2 s per channel,
reached through bench/botproc.py), so its delivery worker posts the alerts there while the
receiver is measured; `face="console"` runs it without a token instead (the worker prints every
alert to the console face in the same process). The load is open-loop: requests are started
on a fixed schedule (`rate` per second) whatever the answers do, as Alertmanager's are, each a
distinct two-alert notification (nothing deduplicated). Reported: p50/p99 of the time to the
answer, per server, and the ratio of the receiver's p99 to the no-op's.

Example::

    result = compare(rate=200, seconds=10)
    print(format_table(result))
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.botproc import CHANNEL, GUILD, HOOK_TOKEN, TOKEN, start_bot
from tests.harness.bot import Bot
from tests.harness.fakediscord import FakeDiscord
from tests.harness.services import free_port, wait_until

TARGET_P99_MS = 10.0
TARGET_RATIO = 3.0
NOOP = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.json_response({"status": "ok"})
app = web.Application()
app.add_routes([web.post("/webhooks/alertmanager", ok), web.get("/healthz", ok)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


@dataclass(frozen=True, slots=True)
class Latency:
    """One server's answers."""

    name: str
    requests: int
    ok: int
    p50_ms: float
    p99_ms: float


def notification(n: int, size: int = 2) -> bytes:
    """A realistic notification of `size` alerts, distinct for each `n` (and each alert)."""
    alerts = []
    for k in range(size):
        alerts.append(
            {
                "status": "firing",
                "labels": {"alertname": "HostHighCpu", "instance": f"host{n}-{k}:9100",
                           "severity": "warning", "job": "node"},
                "annotations": {"summary": f"host{n}-{k}: CPU 95% busy",
                                "description": "CPU has been busy for 15 minutes."},
                "startsAt": "2026-12-03T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": f"{n:012x}{k:04x}",
            }
        )  # fmt: skip
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="HostHighCpu", n="{n}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "homelab-bot",
            "groupLabels": {"alertname": "HostHighCpu"},
            "commonLabels": {"alertname": "HostHighCpu"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    ).encode()


async def load(url: str, token: str, rate: float, seconds: float, offset: int) -> list[float]:
    """Open-loop POSTs at `rate`/s for `seconds`; latencies in ms (inf for a non-200)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [notification(offset + i) for i in range(int(rate * seconds))]
    out: list[float] = []
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: bytes) -> None:
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                ok = r.status == 200
            out.append((time.perf_counter() - start) * 1000 if ok else float("inf"))

        tasks = []
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return out


def _summary(name: str, lat: list[float]) -> Latency:
    finite = sorted(x for x in lat if x != float("inf"))
    p99 = finite[min(len(finite) - 1, int(len(finite) * 0.99))] if finite else float("nan")
    return Latency(name, len(lat), len(finite), statistics.median(finite) if finite else 0, p99)


def _answers(url: str) -> bool:
    """Whether `url` answers 200 (False while the server is not listening yet)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class Comparison:
    """The receiver and the no-op under the same load."""

    rate: float
    receiver: Latency
    noop: Latency

    @property
    def ratio(self) -> float:
        """Receiver p99 / no-op p99."""
        return self.receiver.p99_ms / self.noop.p99_ms if self.noop.p99_ms else float("nan")


def compare(
    rate: float = 200.0, seconds: float = 10.0, workdir: Path | None = None, face: str = "discord"
) -> Comparison:
    """Start both servers, load each in turn (a warm-up second first), stop them.

    `face="discord"`: the bot logs in to the local fake of Discord (5 message requests per 2 s
    per channel) and its delivery worker posts the alerts there meanwhile, as in production.
    `face="console"`: no token, so the worker prints every alert to the console face (and
    tries to fetch a graph for each) in the receiver's process.
    """
    tmp = Path(workdir or tempfile.mkdtemp(prefix="bench-webhook-"))
    port = free_port()
    noop = subprocess.Popen([sys.executable, "-c", NOOP, str(port)])
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=30,
                   what="the no-op server")  # fmt: skip
        noop_url = f"http://127.0.0.1:{port}/webhooks/alertmanager"
        if face == "discord":
            return asyncio.run(_with_discord(rate, seconds, tmp, noop_url))
        return _with_console(rate, seconds, tmp, noop_url)
    finally:
        noop.terminate()
        noop.wait(10)


async def _measure(rate: float, seconds: float, token: str, urls: dict[str, str]) -> Comparison:
    results = {}
    for n, (name, url) in enumerate(urls.items()):
        await load(url, token, rate, 1.0, offset=10**6 + n * 10**5)  # warm-up
        results[name] = _summary(name, await load(url, token, rate, seconds, offset=n * 10**5))
    return Comparison(rate, results["receiver"], results["no-op aiohttp"])


def _measure_in_process(
    rate: float, seconds: float, token: str, urls: dict[str, str]
) -> Comparison:
    """`_measure` with an event loop of its own (run in a child process)."""
    return asyncio.run(_measure(rate, seconds, token, urls))


async def _with_discord(rate: float, seconds: float, tmp: Path, noop_url: str) -> Comparison:
    async with FakeDiscord(TOKEN, guild_ids=[GUILD], channel_ids=[CHANNEL]) as fake:
        fake.channel_rate(5, 2.0)
        bot = await start_bot(fake, tmp)
        try:
            urls = {"no-op aiohttp": noop_url, "receiver": bot.webhook_url}
            # The load runs in a process of its own: the fake Discord answering the bot's posts
            # on this loop would otherwise delay the client's own timing of the answers.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                return await asyncio.get_running_loop().run_in_executor(
                    pool, _measure_in_process, rate, seconds, HOOK_TOKEN, urls
                )
        finally:
            await bot.stop()


def _with_console(rate: float, seconds: float, tmp: Path, noop_url: str) -> Comparison:
    token_file = tmp / "token"
    token_file.write_text("bench-token-" + os.urandom(8).hex())
    bot = Bot(tmp / "bot", alerts={"credentials_file": str(token_file)}).start()
    try:
        urls = {"no-op aiohttp": noop_url, "receiver": f"{bot.url}/webhooks/alertmanager"}
        return asyncio.run(_measure(rate, seconds, token_file.read_text(), urls))
    finally:
        bot.stop()


def format_table(c: Comparison) -> str:
    """The figures and the targets."""
    lines = [
        f"Webhook ack latency at {c.rate:.0f} requests/s (open loop), 2 alerts per request",
        f"{'':16} {'requests':>8} {'200s':>6} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for m in (c.noop, c.receiver):
        lines.append(f"{m.name:16} {m.requests:8d} {m.ok:6d} {m.p50_ms:8.2f} {m.p99_ms:8.2f}")
    lines.append(
        f"receiver p99 {c.receiver.p99_ms:.2f} ms (target <= {TARGET_P99_MS:.0f} ms), "
        f"{c.ratio:.2f}x the no-op (target <= {TARGET_RATIO:.0f}x)"
    )
    return "\n".join(lines)


def main(rate: float = 200.0, seconds: float = 10.0) -> int:
    """Run and print; exit 1 when a target is missed or a request was not answered 200."""
    c = compare(rate, seconds)
    print(format_table(c))
    ok = c.receiver.ok == c.receiver.requests and c.ratio <= TARGET_RATIO
    return 0 if ok and c.receiver.p99_ms <= TARGET_P99_MS else 1
