"""Alert delivery on the console face: `homelab-bot run` without a token prints each alert
message, writes its graph (drawn from a real Prometheus) beside it, and prints the
resolution as an update of the same message.

Example::

    bot = start_service(Bot, alerts={"credentials_file": str(token)})
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.bot import Bot
from tests.harness.services import Prometheus, static_job, wait_until
from tests.integration.test_delivery_wire import PNG_MAGIC, alert, body, serve_level

pytestmark = pytest.mark.integration

TOKEN = "canary-console-Xq3Lw8Mz2Rt5"


def post(bot: Bot, data: bytes) -> int:
    """POST a notification to the bot's receiver with the bearer token; the status."""
    req = urllib.request.Request(
        f"{bot.url}/webhooks/alertmanager",
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def test_console_prints_the_alert_its_graph_and_the_update(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """ "alert message #N" with the alert and a PNG `[image: path]`; then "#N (updated)"."""
    target = serve_level(0.93)
    prom = start_service(Prometheus, scrape_configs=[static_job("levels", target)])
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    bot = start_service(
        Bot,
        alerts={"credentials_file": str(token)},
        prometheus={"url": prom.url, "timeout_seconds": 2.0},
    )
    prom.wait_for("homelab_hook_level", bool)
    firing = alert("eeee", target)
    firing.update(
        startsAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30)),
        generatorURL="http://p/graph?g0.expr=homelab_hook_level+%3E+0.9",
    )
    assert post(bot, body(firing)) == 200
    head = wait_until(
        lambda: re.search(r"--- alert message #(\d+) ---\n", bot.log_path.read_text()),
        what="the alert message on the console",
    )
    number = head.group(1)
    shown = bot.log_path.read_text()[head.start() :]
    assert "HostHighCpu" in shown and target in shown, shown[:2000]
    assert "<t:" not in shown and re.search(r"Started: \S+ \S+ UTC \(\d+[sm] ago\)", shown), shown
    image = wait_until(
        lambda: re.search(r"\[image: ([^\]]+)\]", bot.log_path.read_text()[head.start() :]),
        what="the graph's [image: ...] line",
    )
    png = Path(image.group(1))
    assert png.suffix == ".png" and png.read_bytes().startswith(PNG_MAGIC), png

    resolved = {**firing, "status": "resolved"}
    resolved["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert post(bot, body(resolved)) == 200
    update = wait_until(
        lambda: re.search(
            rf"--- alert message #{number} \(updated\) ---\n(.*)", bot.log_path.read_text(), re.S
        ),
        what="the update under the same number",
    )
    assert "RESOLVED" in update.group(1)[:2000], update.group(1)[:2000]
