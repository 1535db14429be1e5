"""Token buckets per user and class, and refusal back-off that touches only the refused user."""

from __future__ import annotations

from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter


def test_bucket_empties_and_refills_with_time() -> None:
    """Capacity requests pass, the next waits, and time refills the bucket."""
    rl = RateLimiter({"query": BucketRule(capacity=2, per_seconds=10)})
    assert rl.acquire("u1", "query", 0).allowed
    assert rl.acquire("u1", "query", 0).allowed
    denied = rl.acquire("u1", "query", 0)
    assert not denied.allowed and denied.retry_after == 5.0
    assert rl.acquire("u1", "query", 5.0).allowed


def test_buckets_are_per_user_and_per_class() -> None:
    """One user's empty bucket leaves other users and other classes alone."""
    rl = RateLimiter({"query": BucketRule(1, 60), "admin": BucketRule(1, 60)})
    assert rl.acquire("u1", "query", 0).allowed
    assert not rl.acquire("u1", "query", 0).allowed
    assert rl.acquire("u2", "query", 0).allowed
    assert rl.acquire("u1", "admin", 0).allowed


def test_refusals_back_off_exponentially_for_that_user_only() -> None:
    """The third refusal blocks 2 s, the fourth 4 s, the fifth 8 s; another user is unaffected."""
    rl = RateLimiter({}, Backoff(after=3, base_seconds=2, maximum_seconds=300))
    assert [rl.refused("bad", t) for t in (0, 0, 0)] == [0.0, 0.0, 2.0]
    assert not rl.acquire("bad", "query", 1.0).allowed
    assert rl.acquire("good", "query", 1.0).allowed
    assert rl.refused("bad", 3.0) == 4.0
    assert rl.refused("bad", 8.0) == 8.0
    assert rl.acquire("bad", "query", 16.1).allowed


def test_backoff_is_capped_and_success_ends_the_streak() -> None:
    """The back-off never exceeds its maximum; a success resets the count."""
    rl = RateLimiter({}, Backoff(after=1, base_seconds=100, maximum_seconds=150))
    assert rl.refused("u", 0) == 100.0
    assert rl.refused("u", 1) == 150.0
    rl.succeeded("u")
    assert rl.refused("u", 2) == 100.0
    rl.reset("u")
    assert rl.acquire("u", "query", 3).allowed


def test_a_clock_stepping_back_refills_nothing_and_takes_nothing() -> None:
    """A time earlier than the last one counts as no time passed, never as a negative refill."""
    rl = RateLimiter({"query": BucketRule(capacity=2, per_seconds=10)})
    assert rl.acquire("u1", "query", 1000.0).allowed
    assert rl.acquire("u1", "query", 0.0).allowed  # one token was left; none taken away
    assert not rl.acquire("u1", "query", 0.0).allowed
    assert rl.acquire("u1", "query", 5.0).allowed  # refills from the new stamp on


def test_idle_users_are_pruned() -> None:
    """Buckets refilled to capacity and forgotten refusals are dropped; active ones are kept."""
    rl = RateLimiter({"query": BucketRule(capacity=2, per_seconds=10)}, Backoff(after=1))
    for i in range(500):
        rl.acquire(f"u{i}", "query", 0.0)
    rl.refused("bad", 0.0)
    assert rl.tracked() == 501
    rl.acquire("busy", "query", 700.0)  # a minute later (and past forget_seconds): pruned
    assert rl.tracked() == 1  # only the bucket just used
    rl.acquire("busy", "query", 700.0)
    assert not rl.acquire("busy", "query", 700.0).allowed  # pruning kept the active bucket
