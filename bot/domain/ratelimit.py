"""Per-user token buckets per class of command, and an exponential back-off for refusals.

Pure: the caller passes the time, which should come from a monotonic clock (a wall clock
stepping back would otherwise stall refills; a step back is treated as no time passing).
State is per user, so one user's flood or refusals can never slow down anyone else, and the
state of idle users is pruned, so memory stays bounded by the users active recently.

Example::

    limiter = RateLimiter({"query": BucketRule(capacity=5, per_seconds=10)}, Backoff())
    limiter.acquire("user:1", "query", now=0.0).allowed   # True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BucketRule:
    """`capacity` tokens, refilled evenly over `per_seconds`."""

    capacity: int
    per_seconds: float

    @property
    def rate(self) -> float:
        """Tokens gained per second."""
        return self.capacity / self.per_seconds


@dataclass(frozen=True, slots=True)
class Backoff:
    """After `after` refusals in a row, a user waits base * 2**(n - after) s, at most `maximum`."""

    after: int = 3
    base_seconds: float = 2.0
    maximum_seconds: float = 300.0
    forget_seconds: float = 600.0

    def delay(self, refusals: int) -> float:
        """Seconds of back-off after `refusals` consecutive refusals."""
        if refusals < self.after:
            return 0.0
        return float(min(self.maximum_seconds, self.base_seconds * 2 ** (refusals - self.after)))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may run now; if not, how long until it may."""

    allowed: bool
    retry_after: float = 0.0
    reason: str = ""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


@dataclass(slots=True)
class _UserState:
    refusals: int = 0
    last_refusal: float = 0.0
    blocked_until: float = 0.0


# How often (seconds of the caller's clock) idle users' state is pruned.
PRUNE_EVERY = 60.0


@dataclass
class RateLimiter:
    """Token buckets keyed by (user, class) plus a refusal back-off keyed by user."""

    rules: dict[str, BucketRule]
    backoff: Backoff = field(default_factory=Backoff)
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _users: dict[str, _UserState] = field(default_factory=dict)
    _pruned_at: float | None = None

    def acquire(self, user: str, cls: str, now: float) -> Verdict:
        """Take one token of `cls` for `user`, or say how long to wait."""
        if self._pruned_at is None or not 0 <= now - self._pruned_at < PRUNE_EVERY:
            self.prune(now)
        state = self._users.get(user)
        if state is not None and now < state.blocked_until:
            return Verdict(False, state.blocked_until - now, "backoff")
        rule = self.rules.get(cls)
        if rule is None:
            return Verdict(True)
        bucket = self._buckets.get((user, cls))
        if bucket is None:
            bucket = self._buckets[(user, cls)] = _Bucket(float(rule.capacity), now)
        elapsed = max(0.0, now - bucket.stamp)  # a clock stepping back refills nothing
        bucket.tokens = min(rule.capacity, bucket.tokens + elapsed * rule.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict(True)
        return Verdict(False, (1.0 - bucket.tokens) / rule.rate, "rate")

    def refused(self, user: str, now: float) -> float:
        """Record a refusal of `user`; return the back-off now in force for that user."""
        state = self._users.setdefault(user, _UserState())
        if now - state.last_refusal > self.backoff.forget_seconds:
            state.refusals = 0
        state.refusals += 1
        state.last_refusal = now
        delay = self.backoff.delay(state.refusals)
        state.blocked_until = max(state.blocked_until, now + delay)
        return delay

    def succeeded(self, user: str) -> None:
        """A request of `user` went through: the refusal streak ends."""
        state = self._users.get(user)
        if state is not None:
            state.refusals = 0

    def prune(self, now: float) -> None:
        """Forget buckets refilled to capacity and users with no back-off left to remember."""
        self._pruned_at = now
        for key, b in list(self._buckets.items()):
            rule = self.rules.get(key[1])
            if rule is None or b.tokens + max(0.0, now - b.stamp) * rule.rate >= rule.capacity:
                del self._buckets[key]
        for user, st in list(self._users.items()):
            idle = now - st.last_refusal > self.backoff.forget_seconds
            if idle and now >= st.blocked_until:
                del self._users[user]

    def tracked(self) -> int:
        """How many buckets and user states are held (for tests and metrics)."""
        return len(self._buckets) + len(self._users)

    def reset(self, user: str) -> None:
        """Forget every bucket and back-off of `user`."""
        self._users.pop(user, None)
        for key in [k for k in self._buckets if k[0] == user]:
            del self._buckets[key]
