"""The Prometheus client speaks the standard query API with the auth Thanos and Mimir need."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.adapters.prometheus import MAX_POINTS, PrometheusClient, fitting_step
from bot.domain.charts import Series
from bot.services.ports import MetricsUnavailable
from tests.harness.services import Prometheus, free_port

VECTOR = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {"job": "node"}, "value": [1, "1"]}]},
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_api() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a local aiohttp server answering /api/v1/query{,_range} with the given handler."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/v1/query", handler)
        app.router.add_route("*", "/api/v1/query_range", handler)
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


# -- range queries ------------------------------------------------------------------------------


@pytest.mark.integration
async def test_range_query_returns_series_with_labels_and_points(
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """A real Prometheus evaluates over [start, end] every step: one Series per label set."""
    prom = await asyncio.to_thread(prometheus_factory)
    end = float(int(time.time()))
    expr = 'label_replace(vector(time()), "instance", "nas:9101", "", "")'
    async with PrometheusClient(prom.url) as c:
        (series,) = await c.query_range(expr, end - 60, end, 15)
    assert series.labels == {"instance": "nas:9101"}
    assert series.points == tuple((end - 60 + 15 * i, end - 60 + 15 * i) for i in range(5))


@pytest.mark.integration
async def test_range_query_drops_nan_and_inf_points(
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """0/0 and 1/0 at even seconds are NaN and +Inf: only the odd seconds' points remain."""
    prom = await asyncio.to_thread(prometheus_factory)
    end = float(int(time.time()) // 2 * 2)  # even, so the range is even, odd, even, ...
    async with PrometheusClient(prom.url) as c:
        nan, inf = [
            (await c.query_range(f"vector({top}) / (time() % 2)", end - 8, end, 1))[0]
            for top in (0, 1)
        ]
    odd = tuple(end - 7 + 2 * i for i in range(4))
    assert nan.points == tuple((t, 0.0) for t in odd)
    assert inf.points == tuple((t, 1.0) for t in odd)


@pytest.mark.integration
async def test_too_small_step_is_raised_to_fit_the_points_limit(
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """A day at 1 s (86,401 points) would be refused by Prometheus; the step is raised to fit."""
    prom = await asyncio.to_thread(prometheus_factory)
    end = time.time()
    start = end - 86400.123  # an awkward span: the limit is checked to the millisecond
    async with PrometheusClient(prom.url) as c:
        (series,) = await c.query_range("vector(1)", start, end, 1)
    assert 10_000 < len(series.points) <= MAX_POINTS + 1
    assert fitting_step(start, end, 1) == pytest.approx(86400.123 / MAX_POINTS, abs=0.001)
    assert fitting_step(0, 3600, 60) == 60  # a step that fits stays as asked


@pytest.mark.integration
async def test_range_query_errors_are_metrics_unavailable(
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """A query Prometheus cannot parse gives its reason, as for instant queries."""
    prom = await asyncio.to_thread(prometheus_factory)
    async with PrometheusClient(prom.url) as c:
        with pytest.raises(MetricsUnavailable, match=r"HTTP 400.*parse error"):
            await c.query_range("up{", time.time() - 60, time.time(), 15)


async def test_range_query_sends_auth_and_the_range(fake_api: Any) -> None:
    """Bearer auth and start/end/step reach /api/v1/query_range in the form body."""
    seen: dict[str, Any] = {}

    values = [[100, "1.5"], [160, "+Inf"], [220, "2"]]
    matrix = {"resultType": "matrix", "result": [{"metric": {"host": "nas"}, "values": values}]}

    async def handler(request: web.Request) -> web.Response:
        seen.update(await request.post())
        seen["auth"] = request.headers.get("Authorization", "")
        return web.json_response({"status": "success", "data": matrix})

    async with PrometheusClient(await fake_api(handler), bearer_token="tok123") as c:
        (series,) = await c.query_range("up", 100, 220, 60)
    assert series == Series({"host": "nas"}, ((100.0, 1.5), (220.0, 2.0)))
    assert seen["auth"] == "Bearer tok123"
    assert (seen["start"], seen["end"], seen["step"]) == ("100.000", "220.000", "60.000")


async def test_range_query_on_a_closed_port_is_metrics_unavailable() -> None:
    """Connection refused on a range query is MetricsUnavailable, like an instant query."""
    async with PrometheusClient(f"http://127.0.0.1:{free_port()}") as c:
        with pytest.raises(MetricsUnavailable, match="connection refused"):
            await c.query_range("up", 0, 60, 15)


async def test_secrets_in_result_labels_are_redacted(fake_api: Any) -> None:
    """Bodies are no longer redacted whole (it cost 25 ms per range result): a registered
    secret or a secret-shaped value in a label still never reaches a chart or a message."""
    metric = {"instance": "nas", "url": "http://u:tok123456@x/", "note": "token=abcdefgh1"}
    matrix = {"resultType": "matrix", "result": [{"metric": metric, "values": [[1, "2"]]}]}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "data": matrix})

    async with PrometheusClient(await fake_api(handler), bearer_token="tok123456") as c:
        (series,) = await c.query_range("up", 0, 60, 15)
    assert series.labels["instance"] == "nas"
    assert "tok123456" not in str(series.labels) and "abcdefgh1" not in str(series.labels)
