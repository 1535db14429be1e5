"""The served /metrics path against prometheus_client's own writers, in process.

/metrics is the HostCollector's registry written by the fast renderer. This measures, on this
host's data and in this process, what one scrape's collection costs, and what writing the same
families costs with the fast renderer and with prometheus_client's `generate_latest` (text and
OpenMetrics). CPU time (`time.process_time`) per call, averaged over `renders` calls.

Example::

    rows = compare_renderers(renders=300)
    print(format_renderers(rows))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest

from exporter.collection import Collection
from exporter.prometheus import Exposition, render
from exporter.sampling import Sampler


@dataclass(frozen=True, slots=True)
class Row:
    """One measured step: CPU milliseconds per call."""

    label: str
    cpu_ms: float


class _Frozen:
    """A collector yielding the same families every time, so writers are timed alone."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        """The frozen families."""
        return iter(self.families)


def _cpu_ms(fn: Callable[[], object], renders: int) -> float:
    fn()
    start = time.process_time()
    for _ in range(renders):
        fn()
    return (time.process_time() - start) * 1000.0 / renders


def compare_renderers(renders: int = 300) -> list[Row]:
    """CPU ms per call of: collection, fast renderer (text, OpenMetrics), generate_latest."""
    collection = Collection(Sampler())
    collection.refresh_temperatures()
    exposition = Exposition(collection)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Frozen(list(exposition.registry.collect())))  # type: ignore[arg-type]
    return [
        Row("collection: HostCollector.collect()",
            _cpu_ms(lambda: list(exposition.registry.collect()), renders)),
        Row("write: fast renderer, text", _cpu_ms(lambda: render(registry.collect()), renders)),
        Row("write: fast renderer, OpenMetrics",
            _cpu_ms(lambda: render(registry.collect(), True), renders)),
        Row("write: generate_latest, text", _cpu_ms(lambda: generate_latest(registry), renders)),
        Row("write: openmetrics generate_latest",
            _cpu_ms(lambda: om_generate_latest(registry), renders)),
    ]  # fmt: skip


def format_renderers(rows: list[Row]) -> str:
    """The rows, and a scrape's cost (collection + OpenMetrics writer) with either writer."""
    by = {r.label: r.cpu_ms for r in rows}
    collect = by["collection: HostCollector.collect()"]
    fast = collect + by["write: fast renderer, OpenMetrics"]
    client = collect + by["write: openmetrics generate_latest"]
    lines = ["/metrics in process (this host's data), CPU ms per call:"]
    lines += [f"  {r.label:<38}{r.cpu_ms:>8.3f}" for r in rows]
    lines.append(
        f"  collection + OpenMetrics: fast renderer {fast:.3f} ms, generate_latest "
        f"{client:.3f} ms ({client / fast if fast else float('inf'):.2f}x)"
    )
    return "\n".join(lines)
