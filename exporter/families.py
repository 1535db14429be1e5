"""The light metric family the snapshot-to-exposition code builds, before prometheus_client.

Example::

    Family("node_load1", "gauge", "1m load average.", [(NO_LABELS, 0.5)])
"""

from __future__ import annotations

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
