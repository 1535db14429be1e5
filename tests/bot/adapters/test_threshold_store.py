"""SqliteThresholdStore on a real database: set replaces, clear reports, list survives reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.adapters.sqlite import Database, SqliteThresholdStore
from bot.domain.alerts.thresholds import FLEET, Threshold
from bot.services.ports import ThresholdStoreError


async def test_set_replaces_clear_removes_and_list_survives_a_restart(tmp_path: Path) -> None:
    """One row per (alert, instance); the fleet-wide row is apart; rows outlive the process."""
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    store = SqliteThresholdStore(db)
    await store.set(Threshold("HostHighCpu", "nas:9101", 0.7, "olga", 10.0))
    await store.set(Threshold("HostHighCpu", "nas:9101", 0.8, "ada", 20.0))
    await store.set(Threshold("HostHighCpu", FLEET, 0.85, "ada", 30.0))
    await store.set(Threshold("HostClockSkew", FLEET, 2.0, "ada", 40.0))
    assert await store.clear("HostClockSkew", FLEET) is True
    assert await store.clear("HostClockSkew", FLEET) is False
    await db.close()

    db = await Database.open(path)
    try:
        assert list(await SqliteThresholdStore(db).list()) == [
            Threshold("HostHighCpu", FLEET, 0.85, "ada", 30.0),
            Threshold("HostHighCpu", "nas:9101", 0.8, "ada", 20.0),
        ]
    finally:
        await db.close()


async def test_a_broken_database_is_a_threshold_store_error(tmp_path: Path) -> None:
    """A missing table (a damaged file) raises ThresholdStoreError naming the file."""
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await db.run(lambda c: c.execute("DROP TABLE alert_threshold"))
    store = SqliteThresholdStore(db)
    try:
        with pytest.raises(ThresholdStoreError, match=f"cannot read the thresholds in {path}"):
            await store.list()
        with pytest.raises(ThresholdStoreError, match="cannot write"):
            await store.set(Threshold("HostHighCpu", FLEET, 0.5))
    finally:
        await db.close()
    assert sqlite3.connect(path).execute("SELECT 1").fetchone() == (1,)
