"""The runtime publishes thresholds on the web face's /metrics, as docs/alerting.md's contract
says, and loads the stored ones at start."""

from __future__ import annotations

import aiohttp

from bot.interfaces.runtime import Runtime
from bot.interfaces.web.server import WebServer, build_app
from bot.services.core import CONSOLE_ACTOR
from bot.settings import BotSettings


async def _metrics(runtime: Runtime) -> str:
    server = WebServer(build_app(runtime.registry, runtime.health), "127.0.0.1", 0)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{server.port}/metrics") as r,
        ):
            assert r.status == 200
            return await r.text()
    finally:
        await server.stop()


def _threshold_lines(body: str) -> list[str]:
    return sorted(ln for ln in body.splitlines() if ln.startswith("homelab_alert_threshold"))


async def test_metrics_show_per_host_and_fleet_series_with_the_contracts_labels(
    runtime: Runtime,
) -> None:
    """A per-host series carries alertname and instance, a fleet-wide one alertname only."""
    assert _threshold_lines(await _metrics(runtime)) == []
    for args in ({"alert": "HostHighCpu", "value": 0.8, "host": "nas:9101"},
                 {"alert": "HostHighCpu", "value": 0.85}):  # fmt: skip
        msg = await runtime.core.execute(CONSOLE_ACTOR, "threshold set", args)
        assert msg.outcome == "ok", msg.text
    body = await _metrics(runtime)
    assert "# TYPE homelab_alert_threshold gauge" in body
    assert _threshold_lines(body) == [
        'homelab_alert_threshold{alertname="HostHighCpu",instance="nas:9101"} 0.8',
        'homelab_alert_threshold{alertname="HostHighCpu"} 0.85',
    ]


async def test_stored_thresholds_are_published_after_a_restart(bot_settings: BotSettings) -> None:
    """A threshold set before a restart is on /metrics as soon as the new runtime is built."""
    first = await Runtime.build(bot_settings)
    try:
        await first.core.execute(
            CONSOLE_ACTOR, "threshold set", {"alert": "HostHighTemperature", "value": 70}
        )
    finally:
        await first.close()
    second = await Runtime.build(bot_settings)
    try:
        assert _threshold_lines(await _metrics(second)) == [
            'homelab_alert_threshold{alertname="HostHighTemperature"} 70.0'
        ]
    finally:
        await second.close()
