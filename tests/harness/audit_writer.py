"""`python -m tests.harness.audit_writer DB KEY N`: append N audit rows as fast as possible.

A writer in a process (and connection) of its own, for tests that check the audit log beside
other writers. Prints "ready" once the database is open.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from bot.adapters.sqlite import Database, SqliteAuditRepository
from bot.domain.audit import AuditRecord

ROOT = Path(__file__).resolve().parents[2]


async def _write(path: Path, key: bytes, n: int) -> None:
    db = await Database.open(path, busy_timeout=10)
    repo = SqliteAuditRepository(db, key)
    print("ready", flush=True)
    for i in range(n):
        await repo.append(AuditRecord("writer", "limits reset", str(i), "ok", float(i)))
    await db.close()


def start_writers(path: Path, key: bytes, n: int, count: int = 2) -> list[subprocess.Popen[str]]:
    """Start `count` writer processes of `n` rows each; return once all have opened the DB."""
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.harness.audit_writer", str(path), key.decode(), str(n)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    for w in writers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    return writers


if __name__ == "__main__":
    asyncio.run(_write(Path(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])))
