"""RangeCache: entries live one step, the least recently used go first, errors are not kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.domain.charts import Series
from bot.services.chart_data import RangeCache
from bot.services.ports import MetricsUnavailable


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Counts fetches; answers one series named after the key, or fails when told to."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

    def fetch(self, name: str) -> Callable[[], Awaitable[list[Series]]]:
        """A fetch callable for `name`."""

        async def run() -> list[Series]:
            self.calls.append(name)
            if self.fail:
                raise MetricsUnavailable("http://prom", "connection refused")
            return [Series({"k": name}, ((0.0, 1.0),))]

        return run


def key(name: str) -> tuple[str, str, float, float, float]:
    """A cache key for expression `name`."""
    return ("http://prom", name, 0.0, 60.0, 15.0)


async def test_an_entry_lives_its_ttl_then_is_fetched_again() -> None:
    """Within the TTL the source is not asked; after it, it is."""
    clock, src = Clock(), Source()
    cache = RangeCache(clock=clock)
    first = await cache.get(key("a"), 15, src.fetch("a"))
    clock.now = 14.9
    assert await cache.get(key("a"), 15, src.fetch("a")) == first
    clock.now = 15.0
    await cache.get(key("a"), 15, src.fetch("a"))
    assert src.calls == ["a", "a"] and (cache.hits, cache.misses) == (1, 2)


async def test_size_is_bounded_and_the_least_recently_used_goes() -> None:
    """With room for two, using a keeps it; c pushes out b."""
    src = Source()
    cache = RangeCache(max_entries=2, clock=Clock())
    for name in ("a", "b", "a", "c"):
        await cache.get(key(name), 60, src.fetch(name))
    assert len(cache) == 2
    await cache.get(key("a"), 60, src.fetch("a"))
    await cache.get(key("b"), 60, src.fetch("b"))
    assert src.calls == ["a", "b", "c", "b"]


async def test_failures_are_not_cached() -> None:
    """A refused query is asked again next time, and then its answer is kept."""
    src = Source()
    cache = RangeCache(clock=Clock())
    src.fail = True
    with pytest.raises(MetricsUnavailable):
        await cache.get(key("a"), 60, src.fetch("a"))
    src.fail = False
    await cache.get(key("a"), 60, src.fetch("a"))
    await cache.get(key("a"), 60, src.fetch("a"))
    assert src.calls == ["a", "a"]
