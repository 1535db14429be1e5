"""The Alertmanager client against a real Alertmanager: silences, alerts and clear failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.adapters.alertmanager import AlertmanagerClient, from_rfc3339, to_rfc3339
from bot.services.ports import ActiveAlert, AlertmanagerUnavailable, SilenceMatcher
from tests.harness.services import Alertmanager, free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_am() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a local aiohttp server answering every /api/v2 path with the given handler."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/v2/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for r in runners:
        await r.cleanup()


async def _post_alert(am: Alertmanager, labels: dict[str, str]) -> None:
    """Post one firing alert the way Prometheus does (POST /api/v2/alerts)."""
    alert = {"labels": labels, "annotations": {"summary": "hot"}, "generatorURL": "http://prom/g"}
    await asyncio.to_thread(am.api, "POST", "alerts", [alert])


async def _wait_for_alert(client: AlertmanagerClient, name: str) -> ActiveAlert:
    """Poll alerts() until the named alert is there (Alertmanager ingests asynchronously)."""
    deadline = time.monotonic() + 10
    while True:
        found = [a for a in await client.alerts() if a.labels.get("alertname") == name]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{name} never showed up in /api/v2/alerts"
        await asyncio.sleep(0.1)


def test_rfc3339_round_trips_unix_seconds() -> None:
    """Unix seconds become RFC 3339 UTC and back; Go's nanosecond fractions parse too."""
    assert to_rfc3339(1796302603.5) == "2026-12-03T12:56:43.500Z"
    assert from_rfc3339("2026-12-03T12:56:43.500Z") == 1796302603.5
    assert from_rfc3339("2026-12-03T13:56:43.123456789+01:00") == pytest.approx(1796302603.123456)


@pytest.mark.integration
async def test_silence_is_created_listed_and_expired(alertmanager: Alertmanager) -> None:
    """A silence comes back with its matchers, creator and comment; expiring it expires it."""
    now = time.time()
    matchers = [
        SilenceMatcher("alertname", "HostHighCpu"),
        SilenceMatcher("instance", "nas:.*", is_regex=True),
        SilenceMatcher("severity", "info", is_equal=False),
    ]
    async with AlertmanagerClient(alertmanager.url) as am:
        sid = await am.create_silence(matchers, now, now + 3600, "ann", "disk swap")
        (silence,) = [s for s in await am.silences() if s.id == sid]
        assert set(silence.matchers) == set(matchers)
        assert (silence.created_by, silence.comment) == ("ann", "disk swap")
        assert silence.state == "active"
        assert silence.ends_at == pytest.approx(now + 3600, abs=0.01)
        await am.expire_silence(sid)
        (silence,) = [s for s in await am.silences() if s.id == sid]
        assert silence.state == "expired"


@pytest.mark.integration
async def test_posted_alert_is_listed_with_its_fingerprint(alertmanager: Alertmanager) -> None:
    """An alert posted to Alertmanager shows in alerts() with labels, fingerprint and state."""
    await _post_alert(alertmanager, {"alertname": "DiskFull", "instance": "nas:9101"})
    async with AlertmanagerClient(alertmanager.url) as am:
        alert = await _wait_for_alert(am, "DiskFull")
    raw = await asyncio.to_thread(alertmanager.api, "GET", "alerts")
    assert alert.fingerprint == raw[0]["fingerprint"] and len(alert.fingerprint) == 16
    assert alert.labels == {"alertname": "DiskFull", "instance": "nas:9101"}
    assert alert.annotations == {"summary": "hot"} and alert.generator_url == "http://prom/g"
    assert alert.state == "active" and alert.silenced_by == () and alert.inhibited_by == ()
    assert abs(alert.starts_at - time.time()) < 60


@pytest.mark.integration
async def test_silenced_alert_names_its_silence(alertmanager: Alertmanager) -> None:
    """An alert matched by a silence is suppressed and lists the silence in silenced_by."""
    now = time.time()
    async with AlertmanagerClient(alertmanager.url) as am:
        sid = await am.create_silence(
            [SilenceMatcher("alertname", "NoisyFan")], now, now + 600, "bob", "known"
        )
        await _post_alert(alertmanager, {"alertname": "NoisyFan", "instance": "pi:9101"})
        deadline = time.monotonic() + 10
        while (alert := await _wait_for_alert(am, "NoisyFan")).state != "suppressed":
            assert time.monotonic() < deadline, alert
            await asyncio.sleep(0.1)
    assert alert.silenced_by == (sid,)


@pytest.mark.integration
async def test_unknown_silence_is_a_key_error(alertmanager: Alertmanager) -> None:
    """Expiring an id Alertmanager does not know raises KeyError, UUID-shaped or not."""
    async with AlertmanagerClient(alertmanager.url) as am:
        with pytest.raises(KeyError):
            await am.expire_silence("00000000-0000-0000-0000-000000000000")
        with pytest.raises(KeyError):
            await am.expire_silence("nonsense")


@pytest.mark.integration
async def test_silence_alertmanager_refuses_is_a_value_error(alertmanager: Alertmanager) -> None:
    """A regex that does not compile is refused with Alertmanager's reason, as a ValueError."""
    now = time.time()
    async with AlertmanagerClient(alertmanager.url) as am:
        with pytest.raises(ValueError, match=r"refused the silence: .*regexp"):
            await am.create_silence(
                [SilenceMatcher("instance", "nas(", is_regex=True)], now, now + 60, "ann", ""
            )


@pytest.mark.integration
async def test_expiring_twice_is_harmless(alertmanager: Alertmanager) -> None:
    """Expiring an expired silence again succeeds: the silence stays expired."""
    now = time.time()
    async with AlertmanagerClient(alertmanager.url) as am:
        sid = await am.create_silence([SilenceMatcher("a", "b")], now, now + 60, "ann", "")
        await am.expire_silence(sid)
        await am.expire_silence(sid)
        assert [s.state for s in await am.silences() if s.id == sid] == ["expired"]


async def test_silence_ending_before_it_starts_is_refused_before_sending() -> None:
    """ends_at <= starts_at is a ValueError raised without a request (the port is closed)."""
    async with AlertmanagerClient(f"http://127.0.0.1:{free_port()}") as am:
        with pytest.raises(ValueError, match="end after it starts"):
            await am.create_silence([SilenceMatcher("a", "b")], 100.0, 100.0, "ann", "")
        with pytest.raises(ValueError, match="matcher"):
            await am.create_silence([], 100.0, 200.0, "ann", "")


async def test_closed_port_names_the_address_and_the_fix() -> None:
    """Connection refused says where, that `make run` starts Alertmanager, and the setting."""
    url = f"http://127.0.0.1:{free_port()}"
    async with AlertmanagerClient(url) as am:
        with pytest.raises(AlertmanagerUnavailable) as info:
            await am.alerts()
    text = str(info.value)
    assert url in text and "connection refused" in text
    assert "make run" in text and "alertmanager_url" in text
    assert info.value.source == url


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (502, "<html>bad gateway</html>", "not JSON"),
        (500, '"storage is broken"', "storage is broken: Alertmanager failed; its log says why"),
        (200, "<html>grafana</html>", "not JSON"),
    ],
)
async def test_broken_answers_become_reasons(
    fake_am: Any, status: int, body: str, reason: str
) -> None:
    """A 5xx, a proxy's HTML or another service's page give AlertmanagerUnavailable."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    async with AlertmanagerClient(await fake_am(handler)) as am:
        with pytest.raises(AlertmanagerUnavailable, match=reason):
            await am.silences()


async def test_slow_alertmanager_times_out(fake_am: Any) -> None:
    """An answer slower than the timeout gives 'no answer within' and the settings to check."""

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response([])

    async with AlertmanagerClient(await fake_am(handler), timeout=0.3) as am:
        with pytest.raises(AlertmanagerUnavailable, match=r"within 0\.3 s.*alertmanager_"):
            await am.alerts()


async def test_credentials_in_the_url_are_basic_auth_and_hidden(fake_am: Any) -> None:
    """user:password@ in the URL is sent as basic auth and never appears in `source`."""
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization", "")
        return web.json_response([])

    url = (await fake_am(handler)).replace("http://", "http://u:pw@")
    async with AlertmanagerClient(url) as am:
        assert await am.alerts() == []
        assert "pw" not in am.source
    assert seen["auth"] == "Basic dTpwdw=="


async def test_newer_already_expired_answer_is_success(fake_am: Any) -> None:
    """Releases after 0.25 answer a second expire with 500 'already expired': not a failure."""

    async def handler(request: web.Request) -> web.Response:
        assert request.method == "DELETE"
        return web.json_response("silence 0a already expired", status=500)

    async with AlertmanagerClient(await fake_am(handler)) as am:
        await am.expire_silence("0a")
