"""The Prometheus client speaks the standard query API with the auth Thanos and Mimir need."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.adapters.prometheus import PrometheusClient
from bot.services.ports import MetricsUnavailable
from tests.harness.services import Prometheus

VECTOR = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {"job": "node"}, "value": [1, "1"]}]},
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_api() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a local aiohttp server answering /api/v1/query with the given handler."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/v1/query", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for r in runners:
        await r.cleanup()


async def test_bearer_token_and_tenant_header_are_sent(fake_api: Any) -> None:
    """Bearer auth and X-Scope-OrgID reach the server; the query goes in the form body."""
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen["query"] = (await request.post())["query"]
        return web.json_response(VECTOR)

    url = await fake_api(handler)
    async with PrometheusClient(url, bearer_token="tok123", headers={"X-Scope-OrgID": "lab"}) as c:
        samples = await c.query("up")
    assert samples[0].labels == {"job": "node"} and samples[0].value == 1.0
    assert seen["Authorization"] == "Bearer tok123"
    assert seen["X-Scope-OrgID"] == "lab" and seen["query"] == "up"


async def test_basic_auth_is_sent(fake_api: Any) -> None:
    """Username and password go as HTTP basic auth."""
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization", "")
        return web.json_response(VECTOR)

    async with PrometheusClient(await fake_api(handler), username="u", password="p") as c:
        await c.query("up")
    assert seen["auth"] == "Basic dTpw"


async def test_bearer_and_basic_together_are_refused() -> None:
    """Setting both kinds of auth is a configuration error naming the section."""
    with pytest.raises(ValueError, match=r"\[bot.prometheus\]"):
        PrometheusClient("http://x", bearer_token="a", username="u")


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, "Unauthorized", "credentials"),  # a proxy's answer: Prometheus has no auth
        (502, "<html>bad gateway</html>", "not JSON"),  # a proxy with Prometheus down
    ],
)
async def test_errors_become_clear_reasons(
    fake_api: Any, status: int, body: str, reason: str
) -> None:
    """HTTP errors turn into MetricsUnavailable with a reason a user can act on."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    async with PrometheusClient(await fake_api(handler)) as c:
        with pytest.raises(MetricsUnavailable, match=reason):
            await c.query("up")


@pytest.mark.integration
async def test_a_query_prometheus_cannot_parse_gets_its_reason(
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """A real Prometheus answers `up{` with 400 bad_data: the user sees its parse error."""
    prom = await asyncio.to_thread(prometheus_factory)
    async with PrometheusClient(prom.url) as c:
        with pytest.raises(MetricsUnavailable) as info:
            await c.query("up{")
    reason = str(info.value)
    assert "HTTP 400" in reason and "parse error: unexpected end of input" in reason, reason


async def test_slow_server_times_out(fake_api: Any) -> None:
    """A server slower than the timeout gives 'no answer within' promptly."""

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response(VECTOR)

    async with PrometheusClient(await fake_api(handler), timeout=0.3) as c:
        with pytest.raises(MetricsUnavailable, match=r"no answer within 0\.3 s"):
            await c.query("up")


def test_source_hides_credentials() -> None:
    """The URL shown to users drops any user:password part."""
    assert PrometheusClient("https://u:secret@prom.lan:9090/p").source == "https://prom.lan:9090/p"


async def test_credentials_in_the_url_become_basic_auth(fake_api: Any) -> None:
    """user:password@ in the URL is sent as basic auth and dropped from the URL shown."""
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization", "")
        return web.json_response(VECTOR)

    url = (await fake_api(handler)).replace("http://", "http://u:p@")
    async with PrometheusClient(url) as c:
        await c.query("up")
        assert "p@" not in c.source
    assert seen["auth"] == "Basic dTpw"
