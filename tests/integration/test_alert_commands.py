"""/alerts and /silences on both faces, against a real Alertmanager: simcord's Discord and
`homelab-bot do ...` in a subprocess (its exit codes: 3 not found, 4 unavailable).

Example::

    done = _do(tmp_path, am.url, "alerts", "2")
    assert done.returncode == 0
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.interfaces.runtime import role_map
from tests.bot.conftest import make_settings
from tests.harness.services import Alertmanager, free_port
from tests.harness.simbot import bot_in_guild

pytestmark = pytest.mark.integration

BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNKNOWN_ID = "0b0b0b0b-0000-4000-8000-000000000000"


def _do(tmp_path: Path, am_url: str, *words: str) -> subprocess.CompletedProcess[str]:
    """`homelab-bot do WORDS...` with [bot.alerts] alertmanager_url = am_url."""
    cfg = tmp_path / "homelab.toml"
    cfg.write_text(
        "[bot]\n"
        f'database_path = "{tmp_path / "bot.sqlite3"}"\n'
        f'image_dir = "{tmp_path / "img"}"\n'
        "[bot.prometheus]\n"
        f'url = "http://127.0.0.1:{free_port()}"\n'
        "timeout_seconds = 1.0\n"
        "[bot.alerts]\n"
        f'alertmanager_url = "{am_url}"\n'
        "alertmanager_timeout_seconds = 1.0\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_CONFIG"] = str(cfg)
    return subprocess.run(
        [*BOT, "do", *words], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def twelve_alerts(am: Alertmanager) -> None:
    """POST 12 distinct alerts to Alertmanager's API, as Prometheus would."""
    am.api(
        "POST",
        "alerts",
        [
            {
                "labels": {
                    "alertname": f"HomelabCmd{n:02d}",
                    "instance": f"host{n:02d}:9100",
                    "severity": "warning",
                },
                "annotations": {"summary": f"number {n:02d}"},
            }
            for n in range(12)
        ],
    )


def make_silence(am: Alertmanager, comment: str = "from the API") -> str:
    """A silence made with Alertmanager's API; its id."""
    now = time.time()
    doc = am.api(
        "POST",
        "silences",
        {
            "matchers": [{"name": "alertname", "value": "HomelabCmd03", "isRegex": False}],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
            "createdBy": "api-test",
            "comment": comment,
        },
    )
    return str(doc["silenceID"])


def state_of(am: Alertmanager, silence_id: str) -> str:
    """The silence's state in Alertmanager."""
    return str(am.api("GET", f"silence/{silence_id}")["status"]["state"])


def said(result: Any) -> str:
    """Everything an interaction's answers say (response and follow-ups, text and embeds)."""
    parts = []
    for m in [result.response, *result.followups]:
        if m is not None:
            parts.append(m.content or "")
            parts += [f"{e.title}\n{e.description}\n{e.fields}\n{e.footer.text}" for e in m.embeds]
    return "\n".join(parts)


def private(result: Any) -> bool:
    """Whether the answer with content is visible to the asker only."""
    return any(m.ephemeral for m in result.followups) or bool(result.ephemeral)


def summaries(text: str) -> list[str]:
    """The `number NN` summaries an alert list shows, in order."""
    return re.findall(r"number \d\d", text)


def test_console_alerts_pages_and_silences(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """`do alerts` pages what Alertmanager holds (10, 2, then exit 3); silences list and expire."""
    am = start_service(Alertmanager)
    twelve_alerts(am)
    first = _do(tmp_path, am.url, "alerts")
    assert first.returncode == 0, first.stderr
    assert len(summaries(first.stdout)) == 10 and "page 1 of 2" in first.stdout, first.stdout
    second = _do(tmp_path, am.url, "alerts", "2")
    assert second.returncode == 0, second.stderr
    assert len(summaries(second.stdout)) == 2, second.stdout
    assert set(summaries(first.stdout + second.stdout)) == {f"number {n:02d}" for n in range(12)}
    third = _do(tmp_path, am.url, "alerts", "3")
    assert third.returncode == 3, (third.stdout, third.stderr)
    assert "page 1 to 2" in third.stdout + third.stderr

    silence_id = make_silence(am, "kernel upgrade")
    listed = _do(tmp_path, am.url, "silences", "list")
    assert listed.returncode == 0, listed.stderr
    assert silence_id in listed.stdout and "kernel upgrade" in listed.stdout, listed.stdout
    expired = _do(tmp_path, am.url, "silences", "expire", silence_id)
    assert expired.returncode == 0, expired.stderr
    assert state_of(am, silence_id) == "expired"
    unknown = _do(tmp_path, am.url, "silences", "expire", UNKNOWN_ID)
    assert unknown.returncode == 3, (unknown.stdout, unknown.stderr)
    assert UNKNOWN_ID in unknown.stdout + unknown.stderr


@pytest.mark.parametrize("words", [["alerts"], ["silences", "list"], ["silences", "expire", "x"]])
def test_console_with_alertmanager_down_says_how_to_fix_it(
    tmp_path: Path, words: list[str]
) -> None:
    """Alertmanager on a closed port: exit 4 and a sentence naming the setting to fix."""
    done = _do(tmp_path, f"http://127.0.0.1:{free_port()}", *words)
    assert done.returncode == 4, (done.stdout, done.stderr)
    said = done.stdout + done.stderr
    assert "connection refused" in said and "[bot.alerts] alertmanager_url" in said, said


async def test_discord_alerts_pages_and_silences(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """/alerts pages, /silences list shows an API silence, /silences expire expires it."""
    am = start_service(Alertmanager)
    twelve_alerts(am)
    silence_id = make_silence(am, "kernel upgrade")
    settings = make_settings(tmp_path, alerts={"alertmanager_url": am.url})
    async with bot_in_guild(settings) as (env, channel, viewer):
        op_role = channel.guild.create_role("ops")
        env.bot.core.gate.roles = role_map(
            make_settings(tmp_path, roles={"operator": {"role_ids": [op_role.id]}})
        )
        operator = channel.guild.add_member(env.create_user("olga"), roles=[op_role])

        one = await viewer.slash(channel, "alerts")
        assert len(summaries(said(one))) == 10 and "page 1 of 2" in said(one), said(one)
        assert one.response is not None and not one.response.ephemeral
        two = await viewer.slash(channel, "alerts", page=2)
        assert len(summaries(said(two))) == 2, said(two)
        three = await viewer.slash(channel, "alerts", page=3)
        assert "page 1 to 2" in said(three) and private(three), said(three)

        listed = await viewer.slash(channel, "silences list")
        assert silence_id in said(listed) and "kernel upgrade" in said(listed), said(listed)

        refused = await viewer.slash(channel, "silences expire", silence_id=silence_id)
        assert "operator" in said(refused).lower(), said(refused)
        assert state_of(am, silence_id) == "active"
        expired = await operator.slash(channel, "silences expire", silence_id=silence_id)
        assert f"Silence {silence_id} expired" in said(expired) and private(expired)
        assert state_of(am, silence_id) == "expired"
        unknown = await operator.slash(channel, "silences expire", silence_id=UNKNOWN_ID)
        assert f"no silence '{UNKNOWN_ID}'" in said(unknown), said(unknown)

        am.stop()
        down = await viewer.slash(channel, "alerts")
        assert "[bot.alerts] alertmanager_url" in said(down), said(down)
