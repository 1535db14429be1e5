"""RangeCache: entries live one step, the least recently used go first, errors are not kept."""

from __future__ import annotations

import asyncio
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


async def test_one_query_serves_concurrent_askers_and_survives_its_first_asker_leaving() -> None:
    """Two askers at once share one fetch; if the first is cancelled (its user gave up), the
    second is not: it fetches for itself."""
    calls: list[str] = []
    gate = asyncio.Event()

    async def slow() -> list[Series]:
        calls.append("slow")
        await gate.wait()
        return [Series({"k": "slow"}, ())]

    async def quick() -> list[Series]:
        calls.append("quick")
        return [Series({"k": "quick"}, ())]

    cache = RangeCache(clock=Clock())
    first = asyncio.create_task(cache.get(key("a"), 60, slow))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get(key("a"), 60, quick))
    await asyncio.sleep(0)
    assert calls == ["slow"]  # the second waits for the first's query
    first.cancel()
    got = await second
    assert first.cancelled() and got == (Series({"k": "quick"}, ()),)
    assert calls == ["slow", "quick"]

    shared = [asyncio.create_task(cache.get(key("b"), 60, slow)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = [await t for t in shared]
    assert results == [(Series({"k": "slow"}, ()),)] * 3 and calls.count("slow") == 2
