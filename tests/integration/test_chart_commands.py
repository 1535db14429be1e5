"""/chart and /query with a real Prometheus scraping the real exporter: in simcord (the image
attached, the range buttons redraw in place, autocomplete for charts and hosts) and on the
console (the PNG written to the image directory, exit codes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import simcord

from bot.domain.charts import CHARTS
from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime, role_map
from tests.bot.conftest import make_settings
from tests.harness.exporter import Exporter
from tests.harness.services import Prometheus, static_job

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def prom(start_service: Callable[..., Any]) -> Prometheus:
    """A real Prometheus with a few seconds of the real exporter's metrics (host "nas")."""
    exp = start_service(Exporter, hostname="nas")
    p: Prometheus = start_service(
        Prometheus, scrape_configs=[static_job("homelab-exporter", exp.address)]
    )
    p.wait_for("count_over_time(node_load1[1m]) >= 3", lambda r: len(r) == 1)
    p.wait_for('node_uname_info{host="nas"}', lambda r: len(r) == 1)
    return p


def _settings(tmp_path: Path, prom: Prometheus) -> Any:
    return make_settings(tmp_path, prometheus={"url": prom.url, "scrape_interval_seconds": 1.0})


def _cli(tmp_path: Path, prom: Prometheus, *words: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(
        f'[bot]\ndatabase_path = "{tmp_path / "bot.sqlite3"}"\nimage_dir = "{tmp_path / "img"}"\n'
        f'[bot.prometheus]\nurl = "{prom.url}"\nscrape_interval_seconds = 1.0\n'
    )
    return subprocess.run(
        [str(Path(sys.executable).parent / "homelab-bot"), "--config", str(cfg), "do", "--json",
         *words],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_console_chart_writes_a_png_and_query_answers(tmp_path: Path, prom: Prometheus) -> None:
    """`do chart cpu --host nas --range 1h` writes a PNG; a bad chart or host is exit 3; a
    query Prometheus refuses is exit 2 with its reason; a table for an instant query."""
    out = _cli(tmp_path, prom, "chart", "cpu", "--host", "nas", "--range", "1h")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (image,) = doc["images"]
    assert Path(image).read_bytes().startswith(PNG)
    assert "nas" in doc["embeds"][0]["title"] and "15m" in doc["buttons"]
    assert _cli(tmp_path, prom, "chart", "nope").returncode == 3
    assert _cli(tmp_path, prom, "chart", "cpu", "--host", "no-such-host").returncode == 3
    bad = _cli(tmp_path, prom, "query", "rate(node_load1[")
    assert bad.returncode == 2 and "refused the query" in bad.stdout
    table = json.loads(_cli(tmp_path, prom, "query", "node_load1").stdout)
    assert "node_load1" not in table["embeds"][0]["title"]
    assert (
        "nas" in table["embeds"][0]["description"]
        or "instance" in table["embeds"][0]["description"]
    )
    ranged = json.loads(_cli(tmp_path, prom, "query", "node_load1", "--range", "15m").stdout)
    assert Path(ranged["images"][0]).read_bytes().startswith(PNG)


def test_every_named_chart_draws_for_the_host(tmp_path: Path, prom: Prometheus) -> None:
    """Each chart of the catalogue answers with an image for the exporter's host."""
    assert {"cpu", "memory", "disk", "network", "load"} <= set(CHARTS)
    for name in sorted(CHARTS):
        out = _cli(tmp_path, prom, "chart", name, "--host", "nas", "--range", "15m")
        assert out.returncode == 0, (name, out.stdout, out.stderr)
        assert Path(json.loads(out.stdout)["images"][0]).read_bytes().startswith(PNG)


async def test_chart_in_discord_with_range_buttons_and_autocomplete(
    tmp_path: Path, prom: Prometheus
) -> None:
    """/chart answers with the PNG attached; the 15m button redraws the same message; the
    autocomplete offers the named charts and the exporter's host."""
    settings = _settings(tmp_path, prom)
    rt = await Runtime.build(settings)
    try:
        async with simcord.run(HomelabBot(settings, rt.core)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("charts")
            vic = guild.add_member(env.create_user("vic"))
            result = await vic.slash(channel, "chart", chart="cpu", host="nas", range="1h")
            message = result.response.message if result.response else channel.last_message
            assert message.attachments and message.attachments[0].filename.endswith(".png")
            assert "1h" in (message.embeds[0].title or "")
            await vic.click(message, label="15m")
            await asyncio.sleep(0)
            edited = channel.last_message
            assert edited.id == message.id and "15m" in (edited.embeds[0].title or "")
            choices = await vic.autocomplete(channel, "chart", "chart", "me")
            assert "memory" in [c["value"] for c in choices]
            hosts = await vic.autocomplete(channel, "chart", "host", "na")
            assert [c["value"] for c in hosts] == ["nas"]
            op_role = guild.create_role("ops")
            env.bot.core.gate.roles = role_map(
                make_settings(tmp_path, roles={"operator": {"role_ids": [op_role.id]}})
            )
            refused = await vic.slash(channel, "query", promql="up")
            assert refused.response is not None and "operator" in (
                refused.response.message.content or ""
            )
    finally:
        await rt.close()
