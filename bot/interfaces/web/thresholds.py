"""`homelab_alert_threshold{alertname, instance}` on the bot's /metrics, as docs/alerting.md's
contract says: one series per threshold, the fleet-wide ones without an `instance` label.

The collector reads a snapshot the threshold service keeps in memory: a scrape never touches
the database.

Example::

    registry.register(ThresholdCollector(service.published))
    generate_latest(registry)   # homelab_alert_threshold{alertname="HostHighCpu"} 0.8 ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.domain.alerts.thresholds import Threshold
from exporter.schema import ALERT_THRESHOLD

log = logging.getLogger(__name__)

HELP = (
    "Alert threshold set from Discord or the console, in the alert's unit; without an "
    "instance label it applies to the whole fleet (docs/alerting.md)"
)


class ThresholdCollector(Collector):
    """Yields the thresholds of `snapshot()` as one gauge family on every scrape."""

    def __init__(self, snapshot: Callable[[], Iterable[Threshold]]) -> None:
        self.snapshot = snapshot

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The family's name and type, without reading the snapshot."""
        yield GaugeMetricFamily(ALERT_THRESHOLD, HELP, labels=["alertname", "instance"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per threshold; a fleet-wide one carries no instance label at all."""
        family = GaugeMetricFamily(ALERT_THRESHOLD, HELP, labels=["alertname", "instance"])
        for t in self.snapshot():
            labels = {"alertname": t.alertname}
            if not t.fleet_wide:
                labels["instance"] = t.instance
            family.add_sample(ALERT_THRESHOLD, labels, t.value)
        yield family
