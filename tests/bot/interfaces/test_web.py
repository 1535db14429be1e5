"""The web face: /healthz and /metrics served from inside the bot process."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

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


async def _send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await reader.read(200)
    writer.close()
    await writer.wait_closed()
    return answer


async def test_malformed_requests_are_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Garbage requests get 400 and one warning line per interval with a count, no traceback."""
    from homelab.logs import Throttle

    now = [0.0]
    server = WebServer(
        build_app(CollectorRegistry(), dict),
        "127.0.0.1",
        0,
        throttle=Throttle(60, lambda: now[0]),
    )
    await server.start()
    bad = b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"
    try:
        with caplog.at_level(logging.DEBUG):
            for _ in range(5):
                assert (await _send_raw(server.port, bad)).startswith(b"HTTP/1.0 400")
            now[0] = 61.0
            await _send_raw(server.port, bad)
            await asyncio.sleep(0.1)
    finally:
        await server.stop()
    records = [r for r in caplog.records if r.name.startswith("aiohttp") or "requests" in r.name]
    assert [(r.levelname, r.exc_info, r.getMessage()) for r in records] == [
        ("WARNING", None, "malformed HTTP request from 127.0.0.1 answered 400: "
         "Invalid header token"),
        ("WARNING", None, "malformed HTTP request from 127.0.0.1 answered 400: "
         "Invalid header token (and 4 more like it in the last 60 s)"),
    ]  # fmt: skip
