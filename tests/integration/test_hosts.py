"""/host add | remove | list against a real Prometheus whose homelab-exporter job (from
deploy/prometheus.yml) globs the bot's file_sd file: a host added is scraped, labelled with
its name, and a host removed is dropped, with no Prometheus reload in between."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.permissions import Actor
from bot.interfaces.runtime import Runtime
from bot.services.core import CONSOLE_ACTOR
from tests.bot.conftest import make_settings
from tests.deploy.stubs import BotStub
from tests.harness.services import Prometheus

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def exporter_job(file_sd: Path) -> dict[str, Any]:
    """deploy/prometheus.yml's homelab-exporter job, its globs rooted at `file_sd`."""
    cfg = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "homelab-exporter")
    files = [str(file_sd.parent / f) for sd in job["file_sd_configs"] for f in sd["files"]]
    return {**job, "file_sd_configs": [{"files": files}], "scrape_interval": "1s"}


@pytest.fixture
def exporter() -> Iterator[BotStub]:
    """A host serving one gauge, standing in for homelab-exporter."""
    with BotStub().running() as stub:
        stub.text = "# TYPE node_load1 gauge\nnode_load1 0.5\n"
        yield stub


def _audit(db: Path) -> list[tuple[str, str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT actor, action, outcome FROM audit_log ORDER BY seq")
        return [(str(a), str(b), str(o)) for a, b, o in rows]


async def test_host_add_and_remove_take_effect_in_prometheus_without_a_reload(
    tmp_path: Path, exporter: BotStub, prometheus_factory: Callable[..., Prometheus]
) -> None:
    """`host add nas <stub>` makes Prometheus scrape it with host="nas" (up == 1) and
    `host remove nas` drops it, while Prometheus' last reload time stays the same; both are
    audited, a viewer is refused, and the file is the file_sd list Prometheus reads."""
    file_sd = tmp_path / "file_sd" / "local" / "homelab-exporter-bot.yml"
    file_sd.parent.mkdir(parents=True)  # as in the checkout: Prometheus watches the folder
    settings = make_settings(tmp_path, hosts={"file_sd": file_sd})
    prom = await asyncio.to_thread(
        prometheus_factory, scrape_configs=[exporter_job(tmp_path / "prometheus.yml")]
    )
    # Prometheus' own record of its last configuration load: a reload would change it.
    reload_at = (await asyncio.to_thread(prom.api, "status/runtimeinfo"))["lastConfigTime"]
    async with await Runtime.build(settings) as rt:
        viewer = Actor(7, "vic")
        refused = await rt.core.execute(viewer, "host add", {"name": "x", "address": "h:1"})
        assert refused.outcome == "refused" and not file_sd.exists()

        added = await rt.core.execute(
            CONSOLE_ACTOR, "host add", {"name": "nas", "address": exporter.address}
        )
        assert added.outcome == "ok", added.text
        assert "Registered nas" in added.text
        up = await asyncio.to_thread(prom.wait_for, 'up{host="nas"} == 1', lambda r: len(r) == 1)
        assert up[0]["metric"]["instance"] == exporter.address
        assert up[0]["metric"]["job"] == "homelab-exporter"
        assert yaml.safe_load(file_sd.read_text()) == [
            {"targets": [exporter.address], "labels": {"host": "nas"}}
        ]
        again = await rt.core.execute(
            CONSOLE_ACTOR, "host add", {"name": "NAS", "address": "10.0.0.9"}
        )
        assert again.outcome == "refused" and "remove it first" in again.text
        bad = await rt.core.execute(
            CONSOLE_ACTOR, "host add", {"name": "pi", "address": "pi.lan:99999"}
        )
        assert bad.outcome == "usage" and "port must be a number from 1 to 65535" in bad.text

        listed = await rt.core.execute(CONSOLE_ACTOR, "host list", {})
        assert [(f.name, f.value) for f in listed.embeds[0].fields] == [("nas", exporter.address)]

        gone = await rt.core.execute(CONSOLE_ACTOR, "host remove", {"name": "nas"})
        assert gone.outcome == "ok", gone.text
        await asyncio.to_thread(prom.wait_for, 'up{host="nas"}', lambda r: r == [], 30)
        missing = await rt.core.execute(CONSOLE_ACTOR, "host remove", {"name": "nas"})
        assert missing.outcome == "not_found"
    assert (await asyncio.to_thread(prom.api, "status/runtimeinfo"))["lastConfigTime"] == reload_at
    actions = [(a, o) for _, a, o in _audit(settings.database_path)]
    assert ("host add", "ok") in actions and ("host remove", "ok") in actions
    assert ("host add", "refused: needs admin") in actions


def test_console_host_commands(tmp_path: Path) -> None:
    """`homelab-bot do host add` from a shell: exit 0, the file written with the default port
    9101."""
    file_sd = tmp_path / "sd" / "homelab-exporter-bot.yml"
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(
        f'[bot]\ndatabase_path = "{tmp_path / "bot.sqlite3"}"\nimage_dir = "{tmp_path}"\n'
        f'[bot.hosts]\nfile_sd = "{file_sd}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    bot = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]

    def do(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*bot, "--config", str(cfg), "do", *words], capture_output=True,
                              text=True, env=env, timeout=60)  # fmt: skip

    out = do("host", "add", "pi", "pi.lan")
    assert out.returncode == 0, out.stdout + out.stderr
    assert yaml.safe_load(file_sd.read_text()) == [
        {"targets": ["pi.lan:9101"], "labels": {"host": "pi"}}
    ]
