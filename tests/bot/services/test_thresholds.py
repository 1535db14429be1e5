"""/threshold set|list|clear through Core: the gate, the audit log and the published snapshot,
on a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bot.adapters.sqlite import Database, SqliteAuditRepository, SqliteThresholdStore
from bot.domain.alerts.thresholds import FLEET, Threshold
from bot.domain.permissions import Actor, Role, RoleMap
from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter
from bot.domain.text import plain
from bot.interfaces.web.thresholds import ThresholdCollector
from bot.services.core import CONSOLE_ACTOR, Core
from bot.services.gate import Gate
from bot.services.thresholds import ThresholdService

VIEWER = Actor(1, "vic")
OPERATOR = Actor(2, "olga", frozenset({70}))
ALIASES = {"nas": "192.168.1.5:9101"}


@dataclass
class World:
    """Core with the threshold service, its audit log, and a registry with the collector."""

    core: Core
    service: ThresholdService
    audit: SqliteAuditRepository
    registry: CollectorRegistry
    db: Database


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """Everything real but the clock: SQLite, the gate, the collector on its own registry."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    audit = SqliteAuditRepository(db)
    gate = Gate(
        RoleMap(roles={70: Role.OPERATOR}, default=Role.VIEWER),
        RateLimiter(
            {"query": BucketRule(100, 60), "admin": BucketRule(100, 60)}, Backoff(after=100)
        ),
        audit,
        clock=lambda: 1000.0,
    )
    service = ThresholdService(SqliteThresholdStore(db), ALIASES, clock=lambda: 1000.0)
    await service.refresh()
    registry = CollectorRegistry()
    registry.register(ThresholdCollector(service.published))
    yield World(Core(gate, [service]), service, audit, registry, db)
    await db.close()


def _published(registry: CollectorRegistry, alert: str, instance: str | None) -> float | None:
    labels = {"alertname": alert} | ({"instance": instance} if instance is not None else {})
    return registry.get_sample_value("homelab_alert_threshold", labels)


async def test_operator_sets_per_host_and_fleet_thresholds_published_at_once(world: World) -> None:
    """Set by alias and fleet-wide: stored, audited, and on the registry without a restart."""
    per_host = await world.core.execute(
        OPERATOR, "threshold set", {"alert": "HostHighCpu", "value": 0.8, "host": "nas"}
    )
    assert per_host.outcome == "ok" and per_host.ephemeral
    assert "nas (192.168.1.5:9101) set to 0.8" in plain(per_host.text)
    fleet = await world.core.execute(
        OPERATOR, "threshold set", {"alert": "hostclockskew", "value": "0.5"}
    )
    assert fleet.outcome == "ok" and "HostClockSkew" in fleet.text
    assert _published(world.registry, "HostHighCpu", "192.168.1.5:9101") == 0.8
    assert _published(world.registry, "HostClockSkew", None) == 0.5
    assert _published(world.registry, "HostClockSkew", "") is None  # no instance label at all
    actions = [(e.record.action, e.record.target, e.record.outcome)
               for e in await world.audit.entries()]  # fmt: skip
    assert ("threshold set", "alert=HostHighCpu value=0.8 host=nas", "ok") in actions
    assert ("threshold set", "alert=hostclockskew value=0.5", "ok") in actions


async def test_viewer_lists_but_cannot_set_or_clear(world: World) -> None:
    """A viewer reads the list; set and clear are refused naming operator, and audited."""
    await world.core.execute(OPERATOR, "threshold set", {"alert": "HostHighCpu", "value": 0.7})
    listed = await world.core.execute(VIEWER, "threshold list", {})
    assert listed.outcome == "ok"
    assert "the whole fleet: 0.7 (by olga)" in plain(listed.embeds[0].fields[0].value)
    for name, args in (("threshold set", {"alert": "HostHighCpu", "value": 0.1}),
                       ("threshold clear", {"alert": "HostHighCpu"})):  # fmt: skip
        refused = await world.core.execute(VIEWER, name, args)
        assert refused.outcome == "refused" and "**operator**" in refused.text
    assert _published(world.registry, "HostHighCpu", None) == 0.7
    refusals = [e.record for e in await world.audit.entries() if e.record.actor.startswith("vic")]
    assert [r.outcome for r in refusals] == ["refused: needs operator"] * 2


async def test_bad_values_alerts_and_hosts_change_nothing(world: World) -> None:
    """Out of range, no such alert, unknown host: refused with what is allowed, nothing stored."""
    cases = [
        ({"alert": "HostHighCpu", "value": 1.5}, "usage", "give a value 0..1"),
        ({"alert": "HostDown", "value": 1}, "usage", "not an alert that reads thresholds"),
        (
            {"alert": "HostHighCpu", "value": 0.5, "host": "toaster"},
            "not_found",
            "unknown host 'toaster'",
        ),
        ({"alert": "HostHighCpu", "value": "high"}, "usage", "'high' is not a number"),
    ]
    for args, outcome, says in cases:
        msg = await world.core.execute(CONSOLE_ACTOR, "threshold set", args)
        assert msg.outcome == outcome and says in msg.text, (args, msg.text)
    assert await world.service.store.list() == []
    assert world.service.published() == ()


async def test_clear_falls_back_and_unpublishes(world: World) -> None:
    """Clearing the per-host value leaves the fleet-wide one; clearing nothing says so."""
    await world.core.execute(
        OPERATOR, "threshold set", {"alert": "HostHighCpu", "value": 0.8, "host": "nas"}
    )
    await world.core.execute(OPERATOR, "threshold set", {"alert": "HostHighCpu", "value": 0.85})
    cleared = await world.core.execute(
        OPERATOR, "threshold clear", {"alert": "HostHighCpu", "host": "192.168.1.5:9101"}
    )
    assert cleared.outcome == "ok" and "fleet-wide threshold, if set" in cleared.text
    assert _published(world.registry, "HostHighCpu", "192.168.1.5:9101") is None
    assert _published(world.registry, "HostHighCpu", None) == 0.85
    again = await world.core.execute(
        OPERATOR, "threshold clear", {"alert": "HostHighCpu", "host": "nas"}
    )
    assert again.outcome == "not_found" and "nothing to clear" in again.text


async def test_snapshot_is_loaded_at_start_and_scrapes_never_read_the_database(
    world: World, tmp_path: Path
) -> None:
    """A new service publishes stored thresholds after refresh; with the database closed a
    scrape still answers from memory, and a failed write says it changed nothing."""
    await world.core.execute(OPERATOR, "threshold set", {"alert": "HostHighLoad", "value": 3})
    fresh = ThresholdService(SqliteThresholdStore(world.db), ALIASES)
    assert fresh.published() == ()
    assert await fresh.refresh() is True
    assert fresh.published() == (Threshold("HostHighLoad", FLEET, 3.0, "olga", 1000.0),)
    await world.db.close()
    assert _published(world.registry, "HostHighLoad", None) == 3.0
    assert await world.service.refresh() is False
    # the gate would refuse (its audit log is in the same file): call the service itself
    failed = await world.service.set(CONSOLE_ACTOR, "HostHighLoad", 4.0)
    assert failed.outcome == "unavailable" and "Nothing was changed" in failed.text
    assert _published(world.registry, "HostHighLoad", None) == 3.0
    world.db = await Database.open(tmp_path / "bot.sqlite3")  # for the fixture's close
