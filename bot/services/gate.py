"""The one check: role, rate limit and audit, for every command and every click on every face.

Example::

    gate = Gate(RoleMap(), RateLimiter({}), audit_repo)
    decision = await gate.admit(actor, STATUS, target="nas")
    if not decision.allowed:
        show(decision.refusal)

A face with a deadline decides first, answers or acknowledges, then records::

    decision = gate.decide(actor, SYNC)
    ...  # answer the refusal, or acknowledge the privileged action
    decision = await gate.record(decision)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.domain.audit import AuditRecord
from bot.domain.commands import CommandSpec, ComponentSpec
from bot.domain.messages import Message
from bot.domain.permissions import Actor, Role, RoleMap, allows, refusal_text
from bot.domain.ratelimit import RateLimiter
from bot.services.ports import AuditRepository, AuditWriteError

log = logging.getLogger(__name__)

Spec = CommandSpec | ComponentSpec


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer: allowed, or a refusal message (always ephemeral) and why.

    `record` is the audit row this decision still has to write (see `Gate.record`).
    """

    allowed: bool
    role: Role
    refusal: Message | None = None
    reason: str = ""
    record: AuditRecord | None = None


AUDIT_UNAVAILABLE = (
    "Refused: the audit log cannot be written, and privileged actions "
    "are never run unaudited. An admin should check the bot's database."
)


class Gate:
    """Admits or refuses an actor for a command or component, and audits what it must.

    Deciding (`decide`) touches no storage, so a face can answer or acknowledge before the
    audit write (`record`), which may wait on a busy database.
    """

    def __init__(
        self,
        roles: RoleMap,
        limiter: RateLimiter,
        audit: AuditRepository,
        clock: Callable[[], float] = time.time,
        observe: Callable[[str, str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` stamps audit rows (wall time); `monotonic` drives the rate limiter, so a
        wall-clock step (NTP, DST mistakes) can neither stall nor speed up anyone's refill."""
        self.monotonic = monotonic
        self.observe = observe
        self.roles = roles
        self.limiter = limiter
        self.audit = audit
        self.clock = clock

    async def admit(self, actor: Actor, spec: Spec | None, target: str = "") -> Decision:
        """Decide, then write the audit row the decision needs (`decide` + `record`)."""
        return await self.record(self.decide(actor, spec, target))

    def decide(self, actor: Actor, spec: Spec | None, target: str = "") -> Decision:
        """Check role, then rate limit, without any I/O; the audit row is left to `record`.

        `spec` None (an undeclared command or component) is always refused.
        """
        now = self.clock()
        role = self.roles.role_of(actor)
        action = spec.name if spec is not None else "undeclared"
        if spec is None:
            return self._refuse(
                actor,
                role,
                action,
                target,
                "undeclared",
                "This command declares no permission, so nobody may use it. Report it to an admin.",
            )
        if not allows(role, spec.permission):
            return self._refuse(
                actor,
                role,
                action,
                target,
                f"needs {spec.permission.label}",
                refusal_text(spec.permission),
            )
        verdict = self.limiter.acquire(actor.key, spec.rate_class, self.monotonic())
        if not verdict.allowed:
            why = (
                "you are refused too often" if verdict.reason == "backoff" else "too many requests"
            )
            return self._refuse(
                actor,
                role,
                action,
                target,
                f"rate limited ({verdict.reason})",
                f"Slow down: {why}. Try again in {verdict.retry_after:.0f} s.",
            )
        self.limiter.succeeded(actor.key)
        if self.observe is not None:
            self.observe(action, "allowed")
        started = AuditRecord(_who(actor), action, target, "started", now)
        return Decision(True, role, record=started if spec.privileged else None)

    async def record(self, decision: Decision) -> Decision:
        """Write the decision's audit row; an admission whose row cannot be written is refused.

        A refusal stays a refusal whether or not its row could be written (the failure is
        logged); the returned decision has nothing left to record.
        """
        row = decision.record
        if row is None:
            return decision
        try:
            await self.audit.append(row)
        except AuditWriteError as exc:
            if not decision.allowed:
                log.error("audit write of a refusal of %s failed: %s", row.actor, exc)
                return replace(decision, record=None)
            log.error("audit write failed, refusing %s for %s: %s", row.action, row.actor, exc)
            return Decision(
                False,
                decision.role,
                Message(text=AUDIT_UNAVAILABLE, ephemeral=True, outcome="refused"),
                "audit unavailable",
            )
        return replace(decision, record=None)

    async def completed(self, actor: Actor, spec: Spec, target: str, outcome: str) -> None:
        """Record how a privileged action ended (nothing for unprivileged ones)."""
        if not spec.privileged:
            return
        try:
            await self.audit.append(
                AuditRecord(_who(actor), spec.name, target, outcome, self.clock())
            )
        except AuditWriteError as exc:
            log.error("audit write of the outcome of %s failed: %s", spec.name, exc)

    def _refuse(
        self, actor: Actor, role: Role, action: str, target: str, outcome: str, text: str
    ) -> Decision:
        now = self.clock()
        self.limiter.refused(actor.key, self.monotonic())
        log.info("refused %s to %s: %s", action, actor.key, outcome)
        if self.observe is not None:
            self.observe(action, "refused")
        return Decision(
            False,
            role,
            Message(text=text, ephemeral=True, outcome="refused"),
            outcome,
            AuditRecord(_who(actor), action, target, f"refused: {outcome}", now),
        )


def _who(actor: Actor) -> str:
    return f"{actor.name} ({actor.user_id})"
