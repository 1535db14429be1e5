"""The audit feature: /audit tail and /audit verify over the hash-chained log.

Example::

    audit = AuditService(repository, key=b"")
    message = await audit.verify(CONSOLE_ACTOR)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from bot.domain import commands as catalog
from bot.domain.audit import AuditEntry, verify
from bot.domain.messages import Button, ButtonStyle, Embed, Message
from bot.domain.permissions import Actor
from bot.domain.status import GREEN, RED
from bot.domain.text import counted, escape
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import AuditRepository

log = logging.getLogger(__name__)

# Titles of the two answers of `audit verify` (the CLI's exit code depends on which it got).
AUDIT_INTACT = "Audit log intact"
AUDIT_TAMPERED = "Audit log TAMPERED"


class AuditService:
    """Reads and checks the audit log."""

    def __init__(self, audit: AuditRepository, key: bytes = b"") -> None:
        self.audit = audit
        self.key = key

    def commands(self) -> Mapping[str, CommandHandler]:
        """The audit part of the catalogue."""
        return {catalog.AUDIT_TAIL.name: self.tail, catalog.AUDIT_VERIFY.name: self.verify}

    def components(self) -> Mapping[str, ComponentHandler]:
        """The Verify button."""
        return {catalog.AUDIT_VERIFY_BUTTON.route: self._verify_click}

    async def _verify_click(
        self, actor: Actor, arg: str, values: list[str], form: Mapping[str, object]
    ) -> Message:
        return await self.verify(actor)

    async def tail(self, actor: Actor, count: int = 10) -> Message:
        """The latest `count` audit entries."""
        entries = await self.audit.tail(count)
        body = "\n".join(_line(e) for e in entries) or "(the audit log is empty)"
        return Message(
            embeds=(
                Embed(
                    title=f"Audit log: last {counted(len(entries), 'entry')}",
                    description=body,
                ),
            ),
            rows=(
                (
                    Button(
                        catalog.AUDIT_VERIFY_BUTTON.custom_id(),
                        "Verify chain",
                        catalog.AUDIT_VERIFY_BUTTON.permission,
                        ButtonStyle.PRIMARY,
                    ),
                ),
            ),
            ephemeral=True,
        )

    async def verify(self, actor: Actor) -> Message:
        """Check the whole audit chain and name every broken row."""
        entries, head = await self.audit.snapshot()  # one read: writers cannot slip between
        problems = verify(entries, head, self.key)
        if not problems:
            return Message(
                embeds=(
                    Embed(
                        title=AUDIT_INTACT,
                        description=f"{counted(len(entries), 'entry')}, "
                        f"{'keyed (HMAC-SHA256)' if self.key else 'unkeyed'} "
                        "hash chain verified."
                        # An external copy of the head is what reveals a rollback (docs/bot.md).
                        + (f"\nHead: row {head.seq}, hash {head.hash}" if head else ""),
                        colour=GREEN,
                    ),
                ),
                ephemeral=True,
            )
        return Message(
            embeds=(Embed(title=AUDIT_TAMPERED, description="\n".join(problems[:40]), colour=RED),),
            ephemeral=True,
            outcome="failed",
        )


def _line(e: AuditEntry) -> str:
    when = dt.datetime.fromtimestamp(e.record.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    r = e.record
    return (
        f"`{e.seq}` {when} {escape(r.actor)} **{escape(r.action)}** "
        f"{escape(r.target)} -> {escape(r.outcome)}"
    )
