"""The composition root's own work: reporting the audit head outside the database."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.domain.audit import AuditRecord
from bot.interfaces.runtime import Runtime


async def test_the_audit_head_is_logged_and_exported(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """The head's row and hash go to the log, its row to homelab_bot_audit_head_row."""
    with caplog.at_level(logging.INFO, logger="bot.interfaces.runtime"):
        await runtime.report_audit_head_once()
        assert runtime.registry.get_sample_value("homelab_bot_audit_head_row") == 0
        for i in range(3):
            await runtime.core.gate.audit.append(AuditRecord("ann", "sync", "", "ok", float(i)))
        task = asyncio.create_task(runtime.report_audit_head())  # what `run` starts
        try:
            for _ in range(100):
                if runtime.registry.get_sample_value("homelab_bot_audit_head_row") == 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
    head = await runtime.core.gate.audit.head()
    assert head is not None and head.seq == 3
    assert runtime.registry.get_sample_value("homelab_bot_audit_head_row") == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.interfaces.runtime"]
    assert messages[0] == "audit head: row 0, hash none (empty log)"
    assert f"audit head: row 3, hash {head.hash}" in messages
