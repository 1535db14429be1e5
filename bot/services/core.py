"""The bot's use cases behind both faces: every command's handler, and the console's dispatch.

Example::

    core = Core(gate, status_service, audit_repo, limiter)
    message = await core.execute(CONSOLE_ACTOR, "status", {"host": "nas"})
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.domain import commands as catalog
from bot.domain.audit import AuditEntry, verify
from bot.domain.commands import CommandSpec, ComponentSpec
from bot.domain.messages import Button, ButtonStyle, Embed, Message
from bot.domain.permissions import Actor
from bot.domain.ratelimit import RateLimiter
from bot.domain.status import GREEN, RED
from bot.domain.text import count, escape
from bot.services.gate import Decision, Gate
from bot.services.ports import AuditRepository
from bot.services.status import StatusService

log = logging.getLogger(__name__)

CONSOLE_ACTOR = Actor(user_id=0, name="console", is_owner=True)

Syncer = Callable[[], Awaitable[str]]

# Titles of the two answers of `audit verify` (the CLI's exit code depends on which it got).
AUDIT_INTACT = "Audit log intact"
AUDIT_TAMPERED = "Audit log TAMPERED"


class Core:
    """Handlers of every command; faces call them after the gate admitted the actor."""

    def __init__(
        self,
        gate: Gate,
        status: StatusService,
        audit: AuditRepository,
        limiter: RateLimiter,
        syncer: Syncer | None = None,
        audit_key: bytes = b"",
    ) -> None:
        self.audit_key = audit_key
        self.gate = gate
        self.status_service = status
        self.audit = audit
        self.limiter = limiter
        self.syncer = syncer

    # -- handlers -------------------------------------------------------------------------
    async def status(self, host: str | None = None) -> Message:
        """Fleet summary, or one host."""
        return await self.status_service.status(host or None)

    async def whoami(self, actor: Actor) -> Message:
        """The role the bot gives `actor`."""
        role = self.gate.roles.role_of(actor)
        return Message(
            text=f"{escape(actor.name)}: role **{role.label}**"
            + (" (bot owner)" if actor.is_owner else ""),
            ephemeral=True,
        )

    async def limits_reset(self, user_id: int) -> Message:
        """Lift the rate limits and back-off of one user."""
        self.limiter.reset(f"user:{user_id}")
        return Message(
            text=f"Rate limits and back-off of user {user_id} are reset.", ephemeral=True
        )

    async def audit_tail(self, n: int = 10) -> Message:
        """The latest `n` audit entries."""
        n = max(1, min(n, 50))
        entries = await self.audit.tail(n)
        body = "\n".join(_line(e) for e in entries) or "(the audit log is empty)"
        return Message(
            embeds=(
                Embed(title=f"Audit log: last {count(len(entries), 'entry')}", description=body),
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

    async def audit_verify(self) -> Message:
        """Check the whole audit chain and name every broken row."""
        entries, head = await self.audit.snapshot()
        problems = verify(entries, head, self.audit_key)
        if not problems:
            return Message(
                embeds=(
                    Embed(
                        title=AUDIT_INTACT,
                        description=f"{count(len(entries), 'entry')}, "
                        f"{'keyed (HMAC-SHA256)' if self.audit_key else 'unkeyed'} "
                        "hash chain verified."
                        + (f"\nHead: row {head.seq}, hash {head.hash}" if head else ""),
                        colour=GREEN,
                    ),
                ),
                ephemeral=True,
            )
        return Message(
            embeds=(
                Embed(
                    title=AUDIT_TAMPERED,
                    description="\n".join(problems[:40]),
                    colour=RED,
                ),
            ),
            ephemeral=True,
        )

    async def sync(self) -> Message:
        """Sync application commands to the configured guilds."""
        if self.syncer is None:
            return Message(
                text="No Discord connection: set [bot.discord] token to sync commands.",
                ephemeral=True,
            )
        return Message(text=await self.syncer(), ephemeral=True)

    # -- dispatch used by the console face -------------------------------------------------
    def handlers(self, actor: Actor) -> Mapping[str, Callable[..., Awaitable[Message]]]:
        """Command name -> handler bound for `actor`."""
        return {
            catalog.STATUS.name: self.status,
            catalog.WHOAMI.name: lambda: self.whoami(actor),
            catalog.LIMITS_RESET.name: self.limits_reset,
            catalog.AUDIT_TAIL.name: self.audit_tail,
            catalog.AUDIT_VERIFY.name: self.audit_verify,
            catalog.SYNC.name: self.sync,
        }

    async def execute(self, actor: Actor, name: str, args: Mapping[str, Any]) -> Message:
        """Run command `name` for `actor` through the gate, and audit its outcome."""
        spec = catalog.command(name)
        target = " ".join(f"{k}={v}" for k, v in args.items() if v not in (None, ""))
        decision = await self.gate.admit(actor, spec, target)
        if not decision.allowed or spec is None:
            assert decision.refusal is not None
            return decision.refusal
        return await self.run_admitted(actor, spec, target, self.handlers(actor)[name](**args))

    async def run_admitted(
        self, actor: Actor, spec: CommandSpec | ComponentSpec, target: str, work: Awaitable[Message]
    ) -> Message:
        """Await an admitted action and audit how it ended."""
        try:
            result = await work
        except Exception as exc:
            await self.gate.completed(actor, spec, target, f"error: {type(exc).__name__}")
            raise
        await self.gate.completed(actor, spec, target, "ok")
        return result

    async def admit(
        self, actor: Actor, spec: CommandSpec | ComponentSpec | None, target: str
    ) -> Decision:
        """The one check (delegates to the gate)."""
        return await self.gate.admit(actor, spec, target)


def _line(e: AuditEntry) -> str:
    when = dt.datetime.fromtimestamp(e.record.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    r = e.record
    return (
        f"`{e.seq}` {when} {escape(r.actor)} **{escape(r.action)}** "
        f"{escape(r.target)} -> {escape(r.outcome)}"
    )
