"""Shared fixtures: real Prometheus, Alertmanager, InfluxDB and node_exporter on loopback.

Outside CI a missing binary skips the test with the Debian package to install; with CI=true it
fails the test, so a machine without the services can never pass CI by skipping.

The one deliberate exception is ../shared/fixtures (third-party data beside the checkout): the
project's rule is that tests using it skip, with the reason, where it is absent, CI included.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab.binaries import find_binary
from tests.harness.services import (
    Alertmanager,
    BinaryMissing,
    InfluxDB,
    NodeExporter,
    Prometheus,
    Service,
    ServiceGroup,
    running_services,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"


def in_ci() -> bool:
    """True when running under CI (CI=true)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(exc: BinaryMissing) -> None:
    if in_ci():
        pytest.fail(f"CI=true and {exc}", pytrace=False)
    pytest.skip(str(exc))


def require_binary(service: str) -> str:
    """Path of a service binary (e.g. "promtool"); if absent, skip naming its package (fail
    under CI=true), like the service fixtures."""
    try:
        return find_binary(service)
    except BinaryMissing as exc:
        _missing(exc)
        raise


def shared_fixture(name: str) -> Path:
    """Path of a file under ../shared/fixtures, or skip with the reason."""
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared fixtures folder is not beside this checkout")
    return path


class FixtureGroup(ServiceGroup):
    """A ServiceGroup that turns a missing binary into a skip, or a failure under CI."""

    def __call__(self, cls: type[Service], *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(cls, *args, **kwargs)
        except BinaryMissing as exc:
            _missing(exc)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Factory: `start_service(Prometheus, scrape_configs=[...])` returns a started service."""
    starter = FixtureGroup(tmp_path / "services")
    try:
        yield starter
    finally:
        starter.stop_all()


@pytest.fixture
def prometheus_factory(start_service: Callable[..., Any]) -> Callable[..., Prometheus]:
    """Start a Prometheus with injectable scrape configs, rule files and alertmanagers."""

    def make(**kwargs: Any) -> Prometheus:
        return start_service(Prometheus, **kwargs)  # type: ignore[no-any-return]

    return make


@pytest.fixture
def alertmanager(start_service: Callable[..., Any]) -> Alertmanager:
    """One Alertmanager node with a minimal config."""
    return start_service(Alertmanager)  # type: ignore[no-any-return]


@pytest.fixture
def alertmanager_cluster(start_service: Callable[..., Any]) -> tuple[Alertmanager, Alertmanager]:
    """Two Alertmanager nodes peered over loopback gossip."""
    first: Alertmanager = start_service(Alertmanager, cluster=True)
    second: Alertmanager = start_service(Alertmanager, cluster=True, peers=[first.cluster_address])
    return first, second


@pytest.fixture
def influxdb(start_service: Callable[..., Any]) -> InfluxDB:
    """InfluxDB 1.x with temporary data directories."""
    return start_service(InfluxDB)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def node_exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeExporter]:
    """The reference node_exporter, shared by the whole session."""
    starter = FixtureGroup(tmp_path_factory.mktemp("node_exporter"))
    try:
        yield starter(NodeExporter)
    finally:
        starter.stop_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the log of every running service to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for svc in running_services():
            report.sections.append((f"{svc.name} log ({svc.log_path})", svc.log_tail()))


# The longest test files, longest first (seconds of one worker on this project's 2-core
# machine, from `make test`'s --durations). pytest-xdist (--dist loadfile) hands files to its
# workers in collection order, so a long file collected late runs alone at the end while the
# other worker idles: these start first, and the rest fill in around them.
LONGEST_FIRST = (
    "tests/integration/test_containers.py",  # 80-300 s: image builds, a compose stack
    "tests/deploy/test_guides.py",  # ~90 s
    "tests/integration/test_chart_commands.py",  # ~70 s
    "tests/bot/test_vault_cli.py",  # ~60 s
    "tests/deploy/test_ansible.py",  # ~50 s
    "tests/deploy/test_entry_points.py",  # ~45 s
    "tests/integration/test_delivery_wire.py",  # ~40 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest files first (the sort is stable: the others keep their order)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
