"""The audit feature's verify, checked while other processes write to the same log."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from bot.adapters.sqlite import Database, SqliteAuditRepository
from bot.domain.permissions import Actor
from bot.services.audit import AUDIT_INTACT, AuditService
from tests.harness.audit_writer import start_writers


async def _verify_until_done(
    path: Path, key: bytes, writers: list[subprocess.Popen[str]]
) -> list[str]:
    db = await Database.open(path, busy_timeout=10)
    service = AuditService(SqliteAuditRepository(db, key), key)
    titles: list[str] = []
    try:
        while any(w.poll() is None for w in writers):
            message = await service.verify(Actor(1, "ann", is_owner=True))
            titles.append(message.embeds[0].title)
    finally:
        await db.close()
    return titles


@pytest.mark.parametrize("key", [b"", b"0123456789abcdef0123456789abcdef"], ids=["plain", "keyed"])
def test_verify_beside_writers_always_says_intact(tmp_path: Path, key: bytes) -> None:
    """`audit verify` run again and again while two processes append never says TAMPERED."""
    path = tmp_path / "bot.sqlite3"
    asyncio.run(asyncio.run(Database.open(path)).close())
    writers = start_writers(path, key, 1000)
    try:
        titles = asyncio.run(_verify_until_done(path, key, writers))
    finally:
        for w in writers:
            assert w.wait(timeout=60) == 0
    assert len(titles) >= 5 and set(titles) == {AUDIT_INTACT}, titles
