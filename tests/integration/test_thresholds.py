"""Thresholds end to end: `threshold set` on the real bot, its /metrics scraped by a real
Prometheus with the `homelab-bot` job of deploy/prometheus.yml, and the real rules of rules/
reading the series (docs/alerting.md, "Thresholds as data")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.interfaces.runtime import Runtime
from bot.interfaces.web.server import WebServer, build_app
from bot.services.core import CONSOLE_ACTOR
from tests.bot.conftest import make_settings
from tests.deploy.stubs import BotStub
from tests.harness.services import Prometheus, static_job

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30


def rule(name: str) -> dict[str, Any]:
    """The alert rule called `name` in rules/alerts.yml."""
    doc = yaml.safe_load((ROOT / "rules" / "alerts.yml").read_text())
    return next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == name)


def bot_job(address: str) -> dict[str, Any]:
    """deploy/prometheus.yml's homelab-bot job (its relabelling kept), scraping `address`."""
    cfg = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "homelab-bot")
    return {**job, "static_configs": [{"targets": [address]}], "scrape_interval": "1s"}


@pytest.fixture
def host() -> Iterator[BotStub]:
    """A host serving fixed node_exporter memory gauges: 70 % used (below the 90 % default)."""
    with BotStub().running() as stub:
        stub.text = (
            "# TYPE node_memory_MemTotal_bytes gauge\n"
            f"node_memory_MemTotal_bytes {8 * GIB}\n"
            "# TYPE node_memory_MemAvailable_bytes gauge\n"
            f"node_memory_MemAvailable_bytes {int(2.4 * GIB)}\n"
        )
        yield stub


@pytest.fixture
async def bot(tmp_path: Path, host: BotStub) -> AsyncIterator[tuple[Runtime, str]]:
    """The real runtime (host alias nas -> the stub) with its web face on a free port."""
    settings = make_settings(tmp_path, hosts={"aliases": {"nas": host.address}})
    runtime = await Runtime.build(settings)
    server = WebServer(build_app(runtime.registry, runtime.health), "127.0.0.1", 0)
    await server.start()
    try:
        yield runtime, f"127.0.0.1:{server.port}"
    finally:
        await server.stop()
        await runtime.close()


async def _wait(
    prom: Prometheus, expr: str, predicate: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    # In a thread: the bot's web face answers Prometheus from this event loop meanwhile.
    return await asyncio.to_thread(prom.wait_for, expr, predicate, 60)


async def test_a_threshold_set_on_the_bot_is_what_prometheus_and_the_rule_see(
    bot: tuple[Runtime, str],
    host: BotStub,
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    """Memory 70 % used is silent under the 90 % default; after `threshold set
    HostMemoryPressure 0.6 --host nas` Prometheus stores the bot's series with the host's
    instance, HostMemoryPressure goes pending for that host, and a fleet-wide threshold is
    stored without an instance label; after `threshold clear` the series and the alert go."""
    runtime, address = bot
    prom = await asyncio.to_thread(
        prometheus_factory,
        scrape_configs=[bot_job(address), static_job("node", host.address)],
        rule_files=[ROOT / "rules" / "recording.yml", ROOT / "rules" / "alerts.yml"],
    )
    expr = rule("HostMemoryPressure")["expr"]
    used = f'instance:node_memory_used:ratio{{instance="{host.address}"}}'
    await _wait(prom, used, lambda r: len(r) == 1 and abs(float(r[0]["value"][1]) - 0.7) < 1e-6)
    await _wait(prom, 'up{job="homelab-bot"} == 1', lambda r: len(r) == 1)
    assert await asyncio.to_thread(prom.query, expr) == []

    for args in (
        {"alert": "HostMemoryPressure", "value": 0.6, "host": "nas"},
        {"alert": "HostHighCpu", "value": 0.8},
    ):
        msg = await runtime.core.execute(CONSOLE_ACTOR, "threshold set", args)
        assert msg.outcome == "ok", msg.text

    stored = await _wait(prom, "homelab_alert_threshold", lambda r: len(r) == 2)
    by_value = {r["value"][1]: r["metric"] for r in stored}
    assert by_value == {
        "0.6": {
            "__name__": "homelab_alert_threshold",
            "alertname": "HostMemoryPressure",
            "instance": host.address,
            "job": "homelab-bot",
        },
        # fleet-wide: no instance label at all (neither the bot's own nor an empty one)
        "0.8": {
            "__name__": "homelab_alert_threshold",
            "alertname": "HostHighCpu",
            "job": "homelab-bot",
        },
    }
    fired = await _wait(prom, expr, lambda r: len(r) == 1)
    assert fired[0]["metric"]["instance"] == host.address
    pending = await _wait(
        prom,
        'ALERTS{alertname="HostMemoryPressure", alertstate="pending"}',
        lambda r: len(r) == 1,
    )
    assert pending[0]["metric"]["instance"] == host.address

    cleared = await runtime.core.execute(
        CONSOLE_ACTOR, "threshold clear", {"alert": "HostMemoryPressure", "host": "nas"}
    )
    assert cleared.outcome == "ok", cleared.text
    await _wait(prom, 'homelab_alert_threshold{alertname="HostMemoryPressure"}', lambda r: r == [])
    await _wait(prom, 'ALERTS{alertname="HostMemoryPressure"}', lambda r: r == [])
    assert await asyncio.to_thread(prom.query, expr) == []
