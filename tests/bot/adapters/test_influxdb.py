"""The InfluxQL source reads the real exporter's points from a real InfluxDB 1.x, and speaks
the v1 compatibility API of InfluxDB 2.x and 3.x (simulated: they cannot be installed here)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.influxdb import InfluxDBClient
from bot.domain.charts import InfluxQuery
from bot.services.ports import MetricsUnavailable
from tests.harness.exporter import Exporter
from tests.harness.influx_auth import ADMIN_PASSWORD, ADMIN_USER, AuthInfluxDB
from tests.harness.services import InfluxDB, free_port, wait_until

DB = "telegraf"
LOAD = InfluxQuery('SELECT mean("load1") FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter')
CPU = InfluxQuery(
    'SELECT mean("usage_user"), mean("usage_system") FROM "cpu" '
    'WHERE "host" =~ /^$host$/ AND "cpu" = \'cpu-total\' AND $timeFilter',
    legend_tag="cpu",
)


@pytest.fixture
def exported(start_service: Callable[..., Any], influxdb: InfluxDB) -> InfluxDB:
    """A real InfluxDB 1.x holding a few seconds of the real exporter's points (host "nas")."""
    start_service(
        Exporter,
        hostname="nas",
        influx={"enabled": True, "url": influxdb.url, "database": DB, "interval_seconds": 0.5},
    )
    query = 'SELECT count("load1") FROM "system"'

    def enough() -> bool:
        if not {"system", "cpu"} <= influxdb.measurements(DB):
            return False
        series = influxdb.series(query, DB)  # empty for a moment after the first write
        return bool(series) and series[0]["values"][0][1] >= 6

    wait_until(enough, timeout=60, what="three seconds of exporter points")
    return influxdb


@pytest.mark.integration
async def test_exporter_points_come_back_as_series_per_step(exported: InfluxDB) -> None:
    """load1 of host nas over the last minute in 1 s buckets: one series, tagged, no empty
    buckets (fill(none)), times in Unix seconds on the step grid."""
    end = float(int(time.time()) + 1)
    async with InfluxDBClient(exported.url, database=DB) as influx:
        (series,) = await influx.query_range(LOAD, end - 60, end, 1, host="nas")
        none = await influx.query_range(LOAD, end - 60, end, 1, host="web")
    assert series.labels == {"host": "nas"}
    assert len(series.points) >= 3  # six or more points at 0.5 s, in 1 s buckets
    assert all(t == int(t) and end - 60 <= t <= end for t, _ in series.points)
    assert all(v >= 0 for _, v in series.points)
    assert none == []  # another host's regex matches nothing


@pytest.mark.integration
async def test_several_fields_are_several_series(exported: InfluxDB) -> None:
    """Two fields of cpu-total give two series, labelled by tag and by field (every host)."""
    end = time.time() + 1
    async with InfluxDBClient(exported.url, database=DB) as influx:
        series = await influx.query_range(CPU, end - 60, end, 2)
    assert [s.labels for s in series] == [
        {"cpu": "cpu-total", "field": "mean"},
        {"cpu": "cpu-total", "field": "mean_1"},
    ]
    assert all(0 <= v <= 100 for s in series for _, v in s.points)


@pytest.mark.integration
async def test_real_influxdb_refusals_name_the_setting(influxdb: InfluxDB) -> None:
    """A missing database and an InfluxQL parse error: sentences naming InfluxDB and the fix."""
    async with InfluxDBClient(influxdb.url, database="nosuch") as influx:
        with pytest.raises(
            MetricsUnavailable, match=r"database not found.*\[bot.influxdb\] database"
        ):
            await influx.query_range(LOAD, 0, 60, 15)
        with pytest.raises(MetricsUnavailable, match=r"InfluxDB at .*error parsing query"):
            await influx.select("SELEKT 1")


async def test_closed_port_is_a_sentence_naming_the_url_setting() -> None:
    """Connection refused: which InfluxDB, why, and the setting to check."""
    async with InfluxDBClient(f"http://127.0.0.1:{free_port()}") as influx:
        with pytest.raises(MetricsUnavailable, match=r"connection refused.*\[bot.influxdb\] url"):
            await influx.query_range(LOAD, 0, 60, 15)


# -- InfluxDB 2.x and 3.x, simulated in front of the real 1.x ---------------------------------
#
# The fake answers as the docs and sources describe, and forwards accepted queries to the real
# InfluxDB 1.x, so the data is still the exporter's:
# - 2.x (docs "/query 1.x compatibility API"): GET or POST /query with `Authorization: Token`,
#   basic auth or u/p; db (+rp) map to a bucket through a DBRP mapping. Without a token: 401
#   {"code":"unauthorized","message":"unauthorized access"}. An unmapped db: 404
#   {"code":"not found","message":"no dbrp mapping found"} (influxdb 2.x http/legacy).
# - 3.x (docs "Use the InfluxDB v1 HTTP query API"): GET /query only; a token in
#   `Authorization: Token`, `Bearer`, or as the basic-auth password (the username ignored).

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a local aiohttp server answering /query with the given handler."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/query", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for r in runners:
        await r.cleanup()


async def _forward(real: InfluxDB, request: web.Request, db: str) -> web.Response:
    params = {**request.query, "db": db}
    async with aiohttp.ClientSession() as s, s.get(f"{real.url}/query", params=params) as r:
        return web.Response(status=r.status, text=await r.text(), content_type="application/json")


def _v2(real: InfluxDB, token: str, dbrp: dict[str, str], seen: list[Any]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.query) | {"auth": request.headers.get("Authorization", "")})
        auth = request.headers.get("Authorization", "")
        password = ""
        if auth.startswith("Basic "):  # any username; the password is the token
            password = base64.b64decode(auth[6:]).decode().partition(":")[2]
        if auth != f"Token {token}" and password != token:
            return web.json_response(
                {"code": "unauthorized", "message": "unauthorized access"}, status=401
            )
        bucket = dbrp.get(request.query.get("db", ""))
        if bucket is None:
            return web.json_response(
                {"code": "not found", "message": "no dbrp mapping found"}, status=404
            )
        return await _forward(real, request, bucket)

    return handler


def _v3(real: InfluxDB, token: str, seen: list[Any]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.method)
        if request.method != "GET":
            return web.Response(status=405)
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Token {token}", f"Bearer {token}"):
            return web.Response(status=401)  # 3.x answers an empty 401
        return await _forward(real, request, request.query.get("db", ""))

    return handler


@pytest.mark.integration
async def test_v2_compatibility_api_with_token_and_dbrp(
    exported: InfluxDB, fake_server: Any
) -> None:
    """2.x: the token goes as `Token`, db maps through DBRP; a wrong token or an unmapped db is
    a sentence saying what to set or create."""
    seen: list[Any] = []
    url = await fake_server(_v2(exported, "s3cret-token", {"homelab": DB}, seen))
    end = time.time() + 1
    async with InfluxDBClient(url, database="homelab", token="s3cret-token") as influx:
        (series,) = await influx.query_range(LOAD, end - 60, end, 1, host="nas")
    assert series.labels == {"host": "nas"} and series.points
    assert seen[0]["auth"] == "Token s3cret-token" and seen[0]["epoch"] == "s"
    assert "GROUP BY time(1s)" in seen[0]["q"] and "fill(none)" in seen[0]["q"]

    async with InfluxDBClient(url, database="homelab", username="u", password="s3cret-token") as c:
        assert await c.query_range(LOAD, end - 60, end, 1, host="nas")  # basic: password=token
    async with InfluxDBClient(url, database="homelab", token="wrong") as influx:
        with pytest.raises(MetricsUnavailable, match=r"HTTP 401.*\[bot.influxdb\] token"):
            await influx.query_range(LOAD, end - 60, end, 1)
    async with InfluxDBClient(url, database="telegraf", token="s3cret-token") as influx:
        with pytest.raises(MetricsUnavailable, match=r"DBRP mapping.*influx v1 dbrp create"):
            await influx.query_range(LOAD, end - 60, end, 1)


@pytest.mark.integration
async def test_v3_compatibility_api_takes_get_and_a_token(
    exported: InfluxDB, fake_server: Any
) -> None:
    """3.x accepts only GET on /query: the client's GET with a token gets the exporter's data;
    an empty 401 is still a sentence naming the setting, and never echoes the token."""
    seen: list[Any] = []
    url = await fake_server(_v3(exported, "tok3", seen))
    end = time.time() + 1
    async with InfluxDBClient(url, database=DB, token="tok3") as influx:
        (series,) = await influx.query_range(LOAD, end - 60, end, 1, host="nas")
    assert series.points and seen == ["GET"]
    async with InfluxDBClient(url, database=DB, token="nope") as influx:
        with pytest.raises(MetricsUnavailable, match=r"HTTP 401: check \[bot.influxdb\]") as exc:
            await influx.query_range(LOAD, end - 60, end, 1)
    assert "nope" not in str(exc.value)


async def test_slow_server_is_a_timeout_sentence(fake_server: Any) -> None:
    """An answer slower than timeout_seconds: said in seconds, with the setting to raise."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({"results": []})

    async with InfluxDBClient(await fake_server(slow), timeout=0.2) as influx:
        with pytest.raises(MetricsUnavailable, match=r"no answer within 0.2 s.*timeout_seconds"):
            await influx.query_range(LOAD, 0, 60, 15)


@pytest.mark.integration
async def test_real_influxdb_with_auth_takes_basic_credentials(
    start_service: Callable[..., Any],
) -> None:
    """InfluxDB 1.6 with auth-enabled: the exporter's points come back with user/password;
    a wrong password is InfluxDB's refusal in a sentence without the password."""
    influx: AuthInfluxDB = start_service(AuthInfluxDB)
    start_service(
        Exporter,
        hostname="nas",
        influx={
            "enabled": True,
            "url": influx.url,
            "database": DB,
            "interval_seconds": 0.5,
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
        },
    )
    wait_until(lambda: "system" in influx.measurements(DB), what="points")
    end = time.time() + 1
    async with InfluxDBClient(
        influx.url, database=DB, username=ADMIN_USER, password=ADMIN_PASSWORD
    ) as client:
        (series,) = await client.query_range(LOAD, end - 60, end, 1, host="nas")
    assert series.labels == {"host": "nas"} and series.points
    async with InfluxDBClient(
        influx.url, database=DB, username=ADMIN_USER, password="Wr0ng-pass-c41d"
    ) as client:
        with pytest.raises(MetricsUnavailable, match=r"HTTP 401 authorization failed") as exc:
            await client.query_range(LOAD, end - 60, end, 1)
    assert "Wr0ng-pass-c41d" not in str(exc.value) and "username/password" in str(exc.value)
