"""The container stack for real: images built without a registry and docker-compose.yml run
under podman-compose, with an override that swaps only what cannot run here.

The base image is Debian bookworm from debootstrap (cached between runs of one machine, see
tests/harness/containers.py); the project's image is built from deploy/Dockerfile on it, from
a wheelhouse; Prometheus and Alertmanager run Debian's packages. Grafana and InfluxDB 2.x
cannot be had here and are not started (docs/monitoring-setup.md, "Containers under podman").

Without podman or debootstrap (and no way to install them) the tests skip with the reason;
under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import in_ci
from tests.harness import containers as c
from tests.harness.services import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
WHEELHOUSE = "var/wheelhouse"  # inside the build context; .dockerignore admits it
SERVICES = ["prometheus", "alertmanager", "exporter", "bot"]
NAMED_VOLUMES = {"prometheus-data", "alertmanager-data", "exporter-spool", "bot-state"}
DATABASE = "/var/lib/homelab/bot/homelab.sqlite3"  # docker-compose.yml, on bot-state
SUMMARY = ROOT / "var" / "container-test.txt"


@dataclass
class Stack:
    """The running project and what building it took."""

    project: c.ComposeProject
    images: dict[str, c.Image]
    token: str
    before: c.Resources
    started: float
    notes: list[str]

    def note(self, text: str) -> None:
        """Print a line of the run's summary (also kept in var/container-test.txt)."""
        self.notes.append(text)
        print(text)
        SUMMARY.parent.mkdir(exist_ok=True)
        SUMMARY.write_text("\n".join(self.notes) + "\n")

    def prometheus(self, path: str) -> Any:
        """GET Prometheus' API from inside its container (the compose network's view)."""
        out = self.project.exec(
            "prometheus", "wget", "-q", "-O", "-", f"http://127.0.0.1:9090{path}"
        )
        return json.loads(out.stdout)["data"]

    def sql(self, query: str) -> list[list[Any]]:
        """Rows of a query on the bot's database, read inside the bot's container."""
        script = (
            "import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(json.dumps([list(r) for r in c.execute(sys.argv[2])]))"
        )
        out = self.project.exec("bot", "python", "-c", script, DATABASE, query)
        rows: list[list[Any]] = json.loads(out.stdout)
        return rows


def _tools() -> c.Tools:
    try:
        return c.ensure_tools()
    except c.ToolsMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true and the container tools are missing: {exc}", pytrace=False)
        pytest.skip(f"the container tools cannot be installed here: {exc}")
        raise


def _wait_healthy(
    project: c.ComposeProject, services: list[str], timeout: float = 120
) -> dict[str, str]:
    """Run each health check until it passes; fail naming the ones that never did."""
    said: dict[str, str] = {}
    pending = list(services)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for service in list(pending):
            ok, said[service] = project.health(service)
            if ok:
                pending.remove(service)
        if pending:
            time.sleep(1)
    if pending:
        logs = "\n".join(f"--- {s}:\n{project.logs(s)}" for s in pending)
        pytest.fail(f"health checks never passed: {pending}: {said}\n{project.status()}\n{logs}")
    return said


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Build the images, bring the four services up, and remove everything afterwards."""
    started = time.monotonic()
    tools = _tools()
    notes = [f"podman {tools.podman}, podman-compose {tools.podman_compose}"]
    tag = f"t{os.getpid()}x{int(time.time()) % 100000}"  # unique among runs on one machine
    # Two at a time (the machine has two cores): the wheelhouse beside debootstrap, the
    # monitoring image beside the project's; each is mostly waiting on the network or disk.
    with ThreadPoolExecutor(max_workers=2) as pool:
        wheels = pool.submit(c.wheelhouse, ROOT / WHEELHOUSE)
        base = c.base_image()
        monitoring = pool.submit(
            c.build_image, c.MONITORING, c.MONITORING.parent, "localhost/homelab-monitoring:cache",
            {"BASE_IMAGE": base.image}, cache_key=base.image,
        )  # fmt: skip
        notes.append(f"wheelhouse: pip wheel in {wheels.result():.1f} s")
        project_image = c.build_image(
            ROOT / "deploy" / "Dockerfile", ROOT, f"localhost/homelab-discord-bot:{tag}",
            {"BASE_IMAGE": base.image, "WHEELHOUSE": WHEELHOUSE},
        )  # fmt: skip
        images = {"base": base, "project": project_image, "monitoring": monitoring.result()}
    notes.append(f"images ready {time.monotonic() - started:.0f} s after the test started")
    notes += [f"image {name}: {image.describe()}" for name, image in images.items()]

    tmp = tmp_path_factory.mktemp("containers")
    config = c.bridge_configs(tmp / "config")
    secret_dir = tmp / "secrets"
    secret_dir.mkdir()
    token = secrets.token_hex(32)
    for name, text in (
        ("alertmanager-webhook-token", token + "\n"),
        ("fallback-webhook-url", ""),
        ("deadmans-switch-url", ""),
    ):
        (secret_dir / name).write_text(text)
        (secret_dir / name).chmod(0o644)  # as .env.example creates them: read as nobody, 10001
    env = {
        "HOMELAB_IMAGE_TAG": tag,
        "HOMELAB_TEST_MONITORING_IMAGE": images["monitoring"].image,
        "HOMELAB_TEST_CONFIG": str(config),
        "HOMELAB_TEST_SECRETS": str(secret_dir),
        "PROMETHEUS_LISTEN_ADDRESS": "0.0.0.0",
        "ALERTMANAGER_LISTEN_ADDRESS": "0.0.0.0",
        # Required by the file as a whole; read only by InfluxDB and Grafana, not started.
        "INFLUXDB_PASSWORD": "not-started",
        "INFLUXDB_TOKEN": "not-started",
        "GRAFANA_ADMIN_PASSWORD": "not-started",
    }
    project = c.ComposeProject(f"homelabtest{tag[1:]}", [COMPOSE, c.OVERRIDE], env)
    before = c.resources()
    s = Stack(project, images, token, before, started, notes)
    print("\n".join(notes))
    try:
        project.up(SERVICES)
        _wait_healthy(project, SERVICES)
        s.note(f"up and healthy {time.monotonic() - started:.0f} s after the test started")
        yield s
    finally:
        project.compose("down", check=False, timeout=180)
        project.purge()
        c.podman("image", "rm", "-f", images["project"].image, check=False)
        left = (c.resources() - before).of(project.name)
        s.note(f"container test: {time.monotonic() - started:.0f} s in all")
        assert left == c.Resources(frozenset(), frozenset(), frozenset(), frozenset()), left


def test_images_build_without_a_registry(stack: Stack) -> None:
    """The project's image is built on the debootstrap base from the wheelhouse, runs as a
    non-root user, and starts the bot by default; sizes and build times are printed."""
    for name, image in stack.images.items():
        assert image.size_bytes > 0, name  # sizes and times are in the fixture's notes
    info = c.image_info(stack.images["project"].image)
    assert info is not None
    config = info["Config"]
    assert config["User"] == "homelab"
    assert config["Cmd"] == ["homelab-bot", "run"]
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    assert compose["exporter"]["command"] == ["homelab-exporter", "run"]
    out = stack.project.exec(
        "bot", "python", "-c", "import os, sys; print(os.getuid(), sys.prefix)"
    )
    assert out.stdout.split() == ["10001", "/opt/homelab"]


def test_every_health_check_passes(stack: Stack) -> None:
    """Each service's own compose health check passes (run by podman healthcheck run)."""
    said = _wait_healthy(stack.project, SERVICES, timeout=30)
    status = stack.project.status()
    stack.note("health:\n" + "\n".join(f"  {s}: {said[s]}" for s in SERVICES))
    stack.note("podman ps:\n" + status)
    for service in SERVICES:
        line = next(
            ln for ln in status.splitlines() if ln.startswith(stack.project.container(service))
        )
        assert "(healthy)" in line, line


def _targets(stack: Stack) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = stack.prometheus("/api/v1/targets?state=active")[
        "activeTargets"
    ]
    return targets


def _all_up(stack: Stack) -> list[dict[str, Any]]:
    """The active targets once every job's target is up (Prometheus scrapes every 15 s)."""
    wanted = ("homelab-exporter", "homelab-bot", "prometheus", "alertmanager")

    def up() -> list[dict[str, Any]] | None:
        targets = _targets(stack)
        jobs = {t["labels"]["job"]: t for t in targets}
        return targets if all(jobs.get(j, {}).get("health") == "up" for j in wanted) else None

    try:
        targets: list[dict[str, Any]] = wait_until(up, timeout=60, what="every target up")
    except AssertionError:
        pytest.fail(f"targets not all up: {json.dumps(_targets(stack), indent=1)}")
    return targets


def test_prometheus_scrapes_the_exporter_and_the_bot_through_the_compose_network(
    stack: Stack,
) -> None:
    """Prometheus lists the exporter and the bot by their service names, both up."""
    targets = _all_up(stack)
    lines = [
        f"  {t['labels']['job']:<18} {t['scrapeUrl']:<32} {t['health']}"
        f" (last scrape {t['lastScrapeDuration'] * 1000:.0f} ms) {t['lastError']}"
        for t in targets
    ]
    stack.note("Prometheus targets (/api/v1/targets, in the compose network):\n" + "\n".join(lines))
    urls = {t["labels"]["job"]: t["scrapeUrl"] for t in targets}
    assert urls["homelab-exporter"] == "http://exporter:9101/metrics"
    assert urls["homelab-bot"] == "http://bot:9102/metrics"


def _query(stack: Stack, promql: str) -> float:
    data = stack.prometheus("/api/v1/query?query=" + urllib.parse.quote(promql))
    assert len(data["result"]) == 1, (promql, data)
    return float(data["result"][0]["value"][1])


def test_exporter_metrics_describe_the_host(stack: Stack) -> None:
    """Boot time and memory total, as Prometheus scraped them, are the host's."""
    _all_up(stack)
    btime = next(
        int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )  # fmt: skip
    mem = next(
        int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )  # fmt: skip
    job = '{job="homelab-exporter"}'
    boot = _query(stack, f"node_boot_time_seconds{job}")
    total = _query(stack, f"node_memory_MemTotal_bytes{job}")
    stack.note(f"exporter: boot time {boot:.0f} (host {btime}), memory {total:.0f} (host {mem})")
    assert abs(boot - btime) <= 1
    assert total == mem


def test_the_rules_load(stack: Stack) -> None:
    """Every rule of rules/*.yml is loaded by the containerised Prometheus, none unhealthy."""
    expected = {}
    for path in sorted((ROOT / "rules").glob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []):
            expected[group["name"]] = len(group["rules"])
    groups = stack.prometheus("/api/v1/rules")["groups"]
    loaded = {g["name"]: len(g["rules"]) for g in groups}
    assert expected and loaded == expected
    bad = [r["name"] for g in groups for r in g["rules"] if r.get("health") == "err"]
    assert not bad, bad
    stack.note(f"rules: {sum(loaded.values())} rules in {len(loaded)} groups loaded")


ALERT = "ContainerTestAlert"
STORED = "SELECT id, status, state FROM alert_outbox WHERE alert LIKE '%ContainerTestAlert%'"


def _metric(text: str, name: str, *labels: str) -> float:
    """Sum of a metric's samples whose label set contains every one of `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(label in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def delivered(stack: Stack) -> list[list[Any]]:
    """An alert posted to Alertmanager's API, routed to the bot's webhook and stored."""
    labels = {"alertname": ALERT, "severity": "critical", "instance": "container-test"}
    alert = [{"labels": labels, "annotations": {"summary": "posted by test_containers.py"}}]
    stack.project.exec(
        "alertmanager", "wget", "-q", "-O", "-", "--header", "Content-Type: application/json",
        "--post-data", json.dumps(alert), "http://127.0.0.1:9093/api/v2/alerts",
    )  # fmt: skip
    query = STORED
    try:
        # the critical route waits 10 s (group_wait) before the first notification
        rows: list[list[Any]] = wait_until(lambda: stack.sql(query), timeout=60, what="stored")
    except AssertionError:
        pytest.fail(
            f"the alert never reached the bot\n{stack.project.logs('alertmanager')}\n"
            f"{stack.project.logs('bot')}"
        )
    return rows


def test_alertmanager_webhook_reaches_the_bot_with_the_compose_secret(
    stack: Stack, delivered: list[list[Any]]
) -> None:
    """Alertmanager's notification is accepted (2xx, none failed) and stored; a request with
    another bearer token is refused with 401, so it is the compose secret that got it in."""
    assert delivered[0][1] == "firing"
    am = stack.project.exec(
        "alertmanager", "wget", "-q", "-O", "-", "http://127.0.0.1:9093/metrics"
    ).stdout
    sent = _metric(am, "alertmanager_notifications_total", 'integration="webhook"')
    failed = _metric(am, "alertmanager_notifications_failed_total", 'integration="webhook"')
    assert sent >= 1 and failed == 0, (sent, failed)
    wrong = (
        "import urllib.request, urllib.error, sys\n"
        "r = urllib.request.Request('http://bot:9102/webhooks/alertmanager', data=b'{}',"
        " headers={'Authorization': 'Bearer ' + sys.argv[1], 'Content-Type': 'application/json'})\n"
        "try:\n    print(urllib.request.urlopen(r, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    refused = stack.project.exec("exporter", "python", "-c", wrong, "not-" + stack.token)
    assert refused.stdout.strip() == "401"
    bot = stack.project.exec(
        "bot", "python", "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9102/metrics').read().decode())",
    ).stdout  # fmt: skip
    assert _metric(bot, "homelab_bot_alerts_received_total") >= 1
    stack.note(
        f"webhook: Alertmanager sent {sent:.0f} notification(s) to the bot, {failed:.0f} failed;"
        f" stored {delivered}; a wrong token got {refused.stdout.strip()}"
    )


def test_bot_state_survives_down_and_up_and_down_leaves_only_named_volumes(
    stack: Stack, delivered: list[list[Any]]
) -> None:
    """`down` removes every container (and pod); what stays is the named volumes (and the
    project's network, which podman-compose 1.0.3 does not remove); after `up` the bot still
    has the stored alert, from its volume."""
    project = stack.project
    project.down()
    left = (c.resources() - stack.before).of(project.name)
    stack.note(f"after down: {left}")
    assert left.containers == frozenset() and left.pods == frozenset()
    assert left.volumes == {f"{project.name}_{v}" for v in NAMED_VOLUMES}
    assert left.networks <= {f"{project.name}_default"}
    project.up(SERVICES)
    _wait_healthy(project, SERVICES)
    again = stack.sql(STORED)
    assert [row[:2] for row in again] == [row[:2] for row in delivered]


def test_compose_stops_with_a_message_when_a_required_variable_is_unset(stack: Stack) -> None:
    """Without INFLUXDB_TOKEN, podman-compose refuses the file with .env.example's message."""
    env = {k: v for k, v in stack.project.env.items() if k != "INFLUXDB_TOKEN"}
    bare = c.ComposeProject(stack.project.name + "x", [COMPOSE], env)
    proc = bare.compose("ps", check=False, timeout=60)  # 1.0.3 has no `config`
    assert proc.returncode != 0
    assert "set INFLUXDB_TOKEN in .env (see .env.example)" in proc.stdout + proc.stderr
