"""The web face: /healthz and /metrics served from inside the bot process."""

from __future__ import annotations

import aiohttp

from bot.domain import commands as catalog
from bot.domain.permissions import Actor
from bot.interfaces.runtime import Runtime
from bot.interfaces.web.server import WebServer, build_app


async def test_healthz_and_metrics(runtime: Runtime) -> None:
    """/healthz answers ok; /metrics counts commands by outcome in Prometheus format."""
    await runtime.core.execute(Actor(1, "v"), catalog.SYNC.name, {})
    server = WebServer(build_app(runtime.registry, runtime.health), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{server.port}/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with s.get(f"http://127.0.0.1:{server.port}/metrics") as r:
                body = await r.text()
                assert r.headers["Content-Type"].startswith("text/plain")
        assert 'homelab_bot_commands_total{command="sync",outcome="refused"} 1.0' in body
    finally:
        await server.stop()
