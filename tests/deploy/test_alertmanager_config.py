"""deploy/alertmanager.yml: amtool accepts it; a real Alertmanager routes, inhibits and posts."""

from __future__ import annotations

import datetime as dt
import re
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


def _route_test(*labels: str) -> tuple[list[str], str]:
    """(matchers of the routes an alert with these labels takes, receivers) from amtool."""
    proc = subprocess.run(
        [_amtool(), "config", "routes", "test", "--tree", f"--config.file={CONFIG}", *labels],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    taken = re.findall(r"(\{[^}]*\})  receiver: ", proc.stdout)
    return taken, lines[-1]


def _route(matcher: str) -> dict[str, Any]:
    """The child route of deploy/alertmanager.yml with exactly that one matcher."""
    routes = yaml.safe_load(CONFIG.read_text())["route"]["routes"]
    found = [r for r in routes if r["matchers"] == [matcher]]
    assert len(found) == 1, f"no single route for {matcher}"
    return found[0]  # type: ignore[no-any-return]


# The timings each severity's notifications get (docs/monitoring-setup.md says the same).
SEVERITY_TIMINGS = {
    "critical": ("10s", "1m", "1h"),
    "warning": ("30s", "5m", "4h"),
    "info": ("1m", "5m", "24h"),
}


def test_every_severity_of_the_rules_has_its_route() -> None:
    """amtool routes each severity the rules use through that severity's own child route, with
    its own timings, to the bot; the Watchdog's `none` goes to the dead man's switch only."""
    severities = _severities_in_rules()
    assert severities == {*SEVERITY_TIMINGS, "none"}, severities
    for severity, timings in SEVERITY_TIMINGS.items():
        taken, receivers = _route_test(
            f"severity={severity}", "alertname=HostHighCpu", "instance=nas:9101")
        assert taken == [f'{{severity="{severity}"}}'], (severity, taken)
        assert receivers == "homelab-bot"
        route = _route(f'severity="{severity}"')
        assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == timings
        assert route["receiver"] == "homelab-bot"
    hook = yaml.safe_load(CONFIG.read_text())["receivers"][0]["webhook_configs"][0]
    assert hook["send_resolved"] is True
    assert hook["url"] == "http://127.0.0.1:9102/webhooks/alertmanager"
    assert "credentials" not in hook["http_config"]["authorization"], "token must be in a file"


def _alerts_with(label: str, value: str) -> list[dict[str, Any]]:
    return [
        rule
        for path in (ROOT / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule and rule["labels"].get(label) == value
    ]


def test_delivery_path_alerts_reach_the_fallback_and_the_bot() -> None:
    """HomelabBotDown, AlertmanagerNotificationsFailing and PrometheusNotificationsDropped
    (label fallback="true") go to the fallback receiver, which does not use the bot, and still
    on to the bot through their severity route."""
    meta = {rule["alert"] for rule in _alerts_with("fallback", "true")}
    assert {"HomelabBotDown", "AlertmanagerNotificationsFailing",
            "PrometheusNotificationsDropped"} <= meta
    for rule in _alerts_with("fallback", "true"):
        severity = rule["labels"]["severity"]
        taken, receivers = _route_test(f"alertname={rule['alert']}", f"severity={severity}",
                                       "fallback=true", "instance=127.0.0.1:9102")
        assert taken == ['{fallback="true"}', f'{{severity="{severity}"}}'], taken
        assert receivers == "fallback,homelab-bot"
    cfg = yaml.safe_load(CONFIG.read_text())
    receivers = {r["name"]: r for r in cfg["receivers"]}
    fallback = receivers["fallback"]
    assert set(fallback) == {"name", "slack_configs"}, "the fallback must not use the bot"
    assert fallback["slack_configs"][0]["api_url_file"] == "../var/secrets/fallback-webhook-url"
    assert _route('fallback="true"')["continue"] is True


def test_watchdog_reaches_only_the_dead_mans_switch() -> None:
    """The always-firing Watchdog goes to the deadmans-switch receiver alone, often enough
    for a dead man's switch (every 5 minutes), and never to Discord."""
    (watchdog,) = _alerts_with("severity", "none")
    assert watchdog["alert"] == "Watchdog"
    taken, receivers = _route_test("alertname=Watchdog", "severity=none")
    assert taken == ['{alertname="Watchdog"}'] and receivers == "deadmans-switch"
    route = _route('alertname="Watchdog"')
    assert route["repeat_interval"] == "5m" and not route.get("continue")
    cfg = yaml.safe_load(CONFIG.read_text())
    hook = next(r for r in cfg["receivers"] if r["name"] == "deadmans-switch")
    assert hook["slack_configs"][0]["api_url_file"] == "../var/secrets/deadmans-switch-url"


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


def test_real_alertmanager_sends_meta_alerts_around_the_bot(
    fast_deployed: tuple[Alertmanager, BotStub],
) -> None:
    """With the URL files written as the docs say (`echo URL > file`, newline and all),
    HomelabBotDown reaches the fallback URL and the bot, and the Watchdog reaches the dead
    man's switch URL and not the bot. Timings are 1 s; the rest is as shipped."""
    am, stub = fast_deployed
    secrets = am.config_path.parent.parent / "var" / "secrets"
    (secrets / "fallback-webhook-url").write_text(f"http://{stub.address}/fallback\n")
    (secrets / "deadmans-switch-url").write_text(f"http://{stub.address}/deadman\n")
    down = _alert("HomelabBotDown", "127.0.0.1:9102", "critical")
    down["labels"]["fallback"] = "true"
    watchdog = _alert("Watchdog", "", "none")
    del watchdog["labels"]["instance"]
    am.api("POST", "alerts", [down, watchdog])

    def names(path: str) -> set[str]:
        return {a["labels"]["alertname"] for p, _, body in list(stub.posts) if p == path
                for a in body.get("alerts", [])} | {
                body["attachments"][0]["title"] for p, _, body in list(stub.posts)
                if p == path and "attachments" in body}

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (
        names("/fallback") and names("/deadman") and names("/webhooks/alertmanager")
    ):
        time.sleep(0.1)
    assert names("/webhooks/alertmanager") == {"HomelabBotDown"}
    assert names("/fallback") == {"[FIRING] HomelabBotDown 127.0.0.1:9102"}
    assert names("/deadman") == {"Watchdog"}
    bot_headers = next(h for p, h, _ in stub.posts if p == "/webhooks/alertmanager")
    fallback_headers = next(h for p, h, _ in stub.posts if p == "/fallback")
    assert bot_headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in fallback_headers, "the bot's token must not leak elsewhere"


# -- make run's Alertmanager: receivers not configured are off ----------------------------------


class DebugAlertmanager(Alertmanager):
    """Alertmanager logging at debug level, so each group's flush shows in its log."""

    def argv(self) -> list[str]:
        """The harness's command line with --log.level=debug."""
        return ["--log.level=debug" if a.startswith("--log.level=") else a
                for a in super().argv()]


def _make_run_alertmanager(
    start_service: Callable[..., Any], var: Path, stub: BotStub
) -> DebugAlertmanager:
    """Alertmanager on the config `make run` generates for `var` (the bot's URL on a stub,
    1 s group timings), with the meta alerts posted: HomelabBotDown and the Watchdog."""
    from homelab.stack import alertmanager_config

    text, _ = alertmanager_config(var)
    cfg = _fast(yaml.safe_load(text.replace("127.0.0.1:9102", stub.address)))
    am: DebugAlertmanager = start_service(DebugAlertmanager, config=cfg)
    down = _alert("HomelabBotDown", "127.0.0.1:9102", "critical")
    down["labels"]["fallback"] = "true"
    watchdog = _alert("Watchdog", "", "none")
    del watchdog["labels"]["instance"]
    am.api("POST", "alerts", [down, watchdog])
    return am


def _flushes(am: Alertmanager, route: str) -> int:
    """How many times the dispatcher flushed the group of the route with that matcher."""
    pattern = re.compile(r'aggrGroup="?\{\}/\{' + re.escape(route) + r'\}[^\n]*msg=flushing')
    return len(pattern.findall(am.log_path.read_text().replace('\\"', '"')))


def _make_run_var(tmp_path: Path) -> Path:
    """A fresh var/ as `make run` leaves it: only the bot's webhook token in secrets/."""
    secrets = tmp_path / "var" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "alertmanager-webhook-token").write_text(TOKEN + "\n")
    return tmp_path / "var"


def test_fresh_make_run_alertmanager_logs_no_notify_errors(
    start_service: Callable[..., Any], tmp_path: Path
) -> None:
    """Without the fallback and dead man's switch URL files, `make run`'s Alertmanager routes
    the meta alerts to those receivers, silent: each group is flushed twice (so the first
    notification attempt is over) and the log holds no error; the bot still gets its alert."""
    from homelab.stack import alertmanager_config

    var = _make_run_var(tmp_path)
    _, off = alertmanager_config(var)
    assert [(o.receiver, o.file) for o in off] == [
        ("fallback", var / "secrets" / "fallback-webhook-url"),
        ("deadmans-switch", var / "secrets" / "deadmans-switch-url"),
    ]
    with BotStub().running() as stub:
        am = _make_run_alertmanager(start_service, var, stub)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            _flushes(am, 'alertname="Watchdog"') >= 2 and _flushes(am, 'fallback="true"') >= 2
        ):
            time.sleep(0.2)
        log = am.log_path.read_text()
        assert _flushes(am, 'alertname="Watchdog"') >= 2, log
        assert _flushes(am, 'fallback="true"') >= 2, log
        assert stub.received.wait(20), "the bot's receiver got nothing"
        assert [line for line in log.splitlines() if "level=error" in line] == []
        assert {p for p, _, _ in stub.posts} == {"/webhooks/alertmanager"}


def test_make_run_alertmanager_uses_a_receiver_once_its_url_file_is_written(
    start_service: Callable[..., Any], tmp_path: Path
) -> None:
    """With the URL files written (as docs/alerting.md says), `make run`'s config switches both
    receivers on: the Watchdog reaches the dead man's switch and HomelabBotDown the fallback."""
    from homelab.stack import alertmanager_config

    var = _make_run_var(tmp_path)
    with BotStub().running() as stub:
        (var / "secrets" / "fallback-webhook-url").write_text(f"http://{stub.address}/fallback\n")
        (var / "secrets" / "deadmans-switch-url").write_text(f"http://{stub.address}/deadman\n")
        assert alertmanager_config(var)[1] == []
        am = _make_run_alertmanager(start_service, var, stub)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            {"/fallback", "/deadman"} <= {p for p, _, _ in stub.posts}
        ):
            time.sleep(0.1)
        assert {p for p, _, _ in stub.posts} == {
            "/fallback", "/deadman", "/webhooks/alertmanager"
        }, am.log_tail()
