"""The light metric family the snapshot-to-exposition code builds, before prometheus_client.

Example::

    Family("node_load1", "gauge", "1m load average.", [(NO_LABELS, 0.5)])
    vmstat = FamilyNames(lambda key: (f"node_vmstat_{key}", f"/proc/vmstat field {key}."))
    name, help_ = vmstat("pgfault")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]
NO_LABELS: Labels = ()


@dataclass(slots=True)
class Family:
    """One metric family: name, type ("counter" or "gauge"), help text and samples."""

    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)


NAMES_MAX = 4096


class FamilyNames:
    """The (name, help) of the family a source key becomes, made once per key.

    Sources such as /proc/vmstat or /proc/net/netstat give one family per field; formatting
    both strings at every scrape is a measurable part of a scrape's CPU. Bounded: a source
    whose keys keep changing empties the cache rather than growing it.
    """

    __slots__ = ("_cache", "_make")

    def __init__(self, make: Callable[[str], tuple[str, str]]) -> None:
        self._make = make
        self._cache: dict[str, tuple[str, str]] = {}

    def __call__(self, key: str) -> tuple[str, str]:
        """(name, help) for `key`."""
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= NAMES_MAX:
                self._cache.clear()
            found = self._cache[key] = self._make(key)
        return found
