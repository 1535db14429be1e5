"""deploy/alertmanager.yml: amtool accepts it; a real Alertmanager routes, inhibits and posts."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import _missing
from tests.deploy.stubs import BotStub
from tests.harness.services import Alertmanager, BinaryMissing, find_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager.yml"
TOKEN = "test-webhook-token-0123456789"


def _amtool() -> str:
    try:
        return find_binary("amtool")
    except BinaryMissing as exc:
        _missing(exc)
        raise


def _severities_in_rules() -> set[str]:
    return {
        rule["labels"]["severity"]
        for path in (ROOT / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_amtool_check_config_passes() -> None:
    """`amtool check-config deploy/alertmanager.yml` succeeds."""
    proc = subprocess.run(
        [_amtool(), "check-config", str(CONFIG)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_severity_of_the_rules_has_its_route() -> None:
    """amtool routes each severity the rules use to the bot, through its own child route."""
    cfg = yaml.safe_load(CONFIG.read_text())
    routed = {m for r in cfg["route"]["routes"] for m in r["matchers"]}
    for severity in sorted(_severities_in_rules()):
        assert f'severity="{severity}"' in routed
        proc = subprocess.run(
            [_amtool(), "config", "routes", "test", f"--config.file={CONFIG}",
             f"severity={severity}", "alertname=HostHighCpu", "instance=nas:9101"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "homelab-bot", proc.stdout
    hook = cfg["receivers"][0]["webhook_configs"][0]
    assert hook["send_resolved"] is True
    assert hook["url"] == "http://127.0.0.1:9102/webhooks/alertmanager"
    assert "credentials" not in hook["http_config"]["authorization"], "token must be in a file"


def _alert(name: str, instance: str, severity: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "labels": {"alertname": name, "instance": instance, "severity": severity},
        "annotations": {"summary": f"{instance}: {name}"},
        "startsAt": now.isoformat(),
        "endsAt": (now + dt.timedelta(minutes=10)).isoformat(),
    }


@pytest.fixture
def deployed(
    start_service: Callable[..., Any],
) -> Iterator[tuple[Alertmanager, BotStub]]:
    """The real Alertmanager on deploy/alertmanager.yml; only the webhook URL points at a stub.

    The token file sits where the config's relative path leads from the config's directory.
    """
    with BotStub().running() as stub:
        text = CONFIG.read_text().replace("127.0.0.1:9102", stub.address)
        am: Alertmanager = start_service(Alertmanager, config=text)
        secrets = am.config_path.parent.parent / "var" / "secrets"
        secrets.mkdir(parents=True, exist_ok=True)
        (secrets / "alertmanager-webhook-token").write_text(TOKEN + "\n")
        yield am, stub


def test_real_alertmanager_posts_to_the_bot_with_the_bearer_token_from_the_file(
    deployed: tuple[Alertmanager, BotStub],
) -> None:
    """A critical alert reaches the webhook with `Authorization: Bearer <file contents>`."""
    am, stub = deployed
    am.api("POST", "alerts", [_alert("HostHighCpu", "nas:9101", "critical")])
    assert stub.received.wait(60), "no webhook call within 60 s (critical group_wait is 10 s)"
    path, headers, body = stub.posts[0]
    assert path == "/webhooks/alertmanager"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["version"] == "4" and body["receiver"] == "homelab-bot"
    assert body["groupLabels"] == {"alertname": "HostHighCpu", "instance": "nas:9101"}


def test_host_down_mutes_that_hosts_other_alerts_only(
    deployed: tuple[Alertmanager, BotStub],
) -> None:
    """While HostDown fires for a host, its other alerts are inhibited; other hosts are not."""
    am, _ = deployed
    am.api("POST", "alerts", [
        _alert("HostDown", "nas:9101", "critical"),
        _alert("HostHighCpu", "nas:9101", "warning"),
        _alert("HostHighCpu", "pi:9101", "warning"),
    ])
    deadline = time.monotonic() + 15
    states: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline:
        states = {
            (a["labels"]["alertname"], a["labels"]["instance"]): a["status"]["state"]
            for a in am.api("GET", "alerts")
        }
        if states.get(("HostHighCpu", "nas:9101")) == "suppressed":
            break
        time.sleep(0.2)
    assert states == {
        ("HostDown", "nas:9101"): "active",
        ("HostHighCpu", "nas:9101"): "suppressed",
        ("HostHighCpu", "pi:9101"): "active",
    }


# The webhook payload's fields (field notes, "Alertmanager webhook semantics").
WEBHOOK_FIELDS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                  "commonLabels", "commonAnnotations", "externalURL", "alerts"}
WEBHOOK_ALERT_FIELDS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                        "fingerprint"}


def _fast(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every route's group_wait and group_interval at 1 s (repeats at 1 h)."""
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    return config


@pytest.fixture
def fast_deployed(
    start_service: Callable[..., Any],
) -> Iterator[tuple[Alertmanager, BotStub]]:
    """deploy/alertmanager.yml with 1 s group timings and the webhook URL on a stub; the
    receiver, send_resolved, auth and credentials file are as shipped."""
    with BotStub().running() as stub:
        cfg = _fast(yaml.safe_load(CONFIG.read_text().replace("127.0.0.1:9102", stub.address)))
        am: Alertmanager = start_service(Alertmanager, config=cfg)
        secrets = am.config_path.parent.parent / "var" / "secrets"
        secrets.mkdir(parents=True, exist_ok=True)
        (secrets / "alertmanager-webhook-token").write_text(TOKEN + "\n")
        yield am, stub


def _next_post(stub: BotStub, status: str, timeout: float = 20) -> tuple[dict[str, str], Any]:
    """(headers, body) of the first webhook call whose payload has that status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, headers, body in list(stub.posts):
            if body.get("status") == status:
                return headers, body
        time.sleep(0.1)
    raise AssertionError(f"no {status} notification in {timeout} s; got {stub.posts}")


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_firing_then_resolved_notifications_reach_the_bot(
    fast_deployed: tuple[Alertmanager, BotStub],
) -> None:
    """An alert posted firing, then again with endsAt in the past, gives a firing and then a
    `status: resolved` webhook (send_resolved), both with the bearer token and the payload
    fields of version 4. Timing intervals are rewritten to 1 s for speed; the rest is the
    shipped deploy/alertmanager.yml."""
    am, stub = fast_deployed
    alert = _alert("HostHighCpu", "nas:9101", "warning")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    alert["startsAt"] = started.isoformat()
    am.api("POST", "alerts", [alert])
    fired_headers, fired = _next_post(stub, "firing")
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    am.api("POST", "alerts", [{**alert, "endsAt": ended.isoformat()}])
    resolved_headers, resolved = _next_post(stub, "resolved")

    for headers, body in ((fired_headers, fired), (resolved_headers, resolved)):
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert set(body) == WEBHOOK_FIELDS
        assert body["version"] == "4" and body["receiver"] == "homelab-bot"
        assert body["truncatedAlerts"] == 0
        assert body["groupLabels"] == {"alertname": "HostHighCpu", "instance": "nas:9101"}
        assert body["commonLabels"] == alert["labels"]
        assert body["commonAnnotations"] == alert["annotations"]
        assert body["externalURL"].startswith("http")
        assert len(body["alerts"]) == 1 and set(body["alerts"][0]) == WEBHOOK_ALERT_FIELDS
        assert body["alerts"][0]["labels"] == alert["labels"]
    # the warning route's group: the same group key, alert identity and episode in both
    group_key = '{}/{severity="warning"}:{alertname="HostHighCpu", instance="nas:9101"}'
    assert fired["groupKey"] == resolved["groupKey"] == group_key
    first, last = fired["alerts"][0], resolved["alerts"][0]
    assert first["status"] == "firing" and last["status"] == "resolved"
    assert first["endsAt"] == "0001-01-01T00:00:00Z", "a firing alert carries Go's zero time"
    assert first["fingerprint"] == last["fingerprint"] and len(first["fingerprint"]) == 16
    assert _when(first["startsAt"]) == _when(last["startsAt"]) == started
    assert abs((_when(last["endsAt"]) - ended).total_seconds()) < 1
