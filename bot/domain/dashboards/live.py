"""Live dashboards, the pure part: the stored record, the digest of what a dashboard shows
(so it is edited only when that changed), and the schedule that spreads refreshes so that
many dashboards never burst a channel's rate limit.

Example::

    schedule = LiveSchedule(per_channel=2)
    ids = schedule.due(dashboards, now)     # the ones to refresh now, within each channel's budget
    schedule.done(d, now)                   # next at now + d.interval
    schedule.urge(lambda d: d.params.type == "alerts")   # at the next tick, not the interval
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.charts import Chart, ChartGrid
from bot.domain.dashboards.model import Params
from bot.domain.messages import Message

log = logging.getLogger(__name__)

# Refreshes started per channel per tick: two per 5 s stays far below the per-channel message
# buckets Discord documents (and leaves room for people's commands in the same channel).
PER_CHANNEL_PER_TICK = 2
TICK_SECONDS = 5.0
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A live dashboard: where it is (channel, the messages it is shown in), what it shows,
    how often it is refreshed, and the digest of what it showed last."""

    id: int
    channel_id: int
    message_ids: tuple[int, ...]
    params: Params
    interval: int
    digest: str = ""
    created_by: str = ""
    created_at: float = 0.0


def _round(v: float) -> str:
    """A value to 4 significant digits: what a chart or a stat line can show of it."""
    return "nan" if v != v else f"{v:.4g}"


def digest(msg: Message, drawings: Mapping[str, Chart | ChartGrid]) -> str:
    """A hash of what the dashboard shows: the message without its images, and the data
    behind each drawing (series labels and values to 4 digits), not the PNG bytes, which
    differ for equal data (and would cost a render to compare)."""
    h = hashlib.sha256()
    bare = Message(text=msg.text, embeds=msg.embeds, rows=msg.rows)
    h.update(repr(bare).encode())
    for name in sorted(drawings):
        d = drawings[name]
        charts = d.charts if isinstance(d, ChartGrid) else (d,)
        h.update(name.encode())
        for c in charts:
            h.update(f"{c.title}|{c.unit}|{c.start:.0f}|{c.end:.0f}".encode())
            for s in c.series:
                h.update(repr(sorted(s.labels.items())).encode())
                h.update(",".join(f"{t:.0f}:{_round(v)}" for t, v in s.points).encode())
    return h.hexdigest()[:32]


class LiveSchedule:
    """When each dashboard is refreshed next, in memory (the face's clock): a first refresh
    spread over the interval by the dashboard's id, then every interval; urgent ones (an
    alert changed what they show) at the next tick; at most `per_channel` per channel per
    tick, the rest at the next."""

    def __init__(self, per_channel: int = PER_CHANNEL_PER_TICK) -> None:
        self.per_channel = per_channel
        self._next: dict[int, float] = {}
        self._urgent: set[int] = set()
        self._known: dict[int, Dashboard] = {}
        # Urges since the last tick, applied to the dashboards that tick reads too: one made
        # after the last tick is not known yet, and must not miss a change made meanwhile.
        self._wanted: list[Callable[[Dashboard], bool]] = []

    def offset(self, d: Dashboard) -> float:
        """Where in its interval a dashboard's refreshes fall: by the golden ratio of its id,
        so consecutive ids land far apart and the same id lands in the same place after a
        restart."""
        return (d.id * GOLDEN) % 1.0 * d.interval

    def due(self, dashboards: Iterable[Dashboard], now: float) -> list[Dashboard]:
        """The dashboards to refresh now: urgent first, then the most overdue, within each
        channel's budget for this tick."""
        live = {d.id: d for d in dashboards}
        self._known = live
        for which in self._wanted:
            self._urgent.update(d.id for d in live.values() if which(d))
        self._wanted.clear()
        for gone in set(self._next) - set(live):
            del self._next[gone]
        self._urgent &= set(live)
        for d in live.values():
            if d.id not in self._next:
                self._next[d.id] = now + self.offset(d)
        ready = [d for d in live.values() if d.id in self._urgent or self._next[d.id] <= now]
        ready.sort(key=lambda d: (d.id not in self._urgent, self._next[d.id], d.id))
        used: dict[int, int] = {}
        picked: list[Dashboard] = []
        for d in ready:
            if used.get(d.channel_id, 0) >= self.per_channel:
                continue  # stays due: the next tick takes it
            used[d.channel_id] = used.get(d.channel_id, 0) + 1
            picked.append(d)
        return picked

    def done(self, d: Dashboard, now: float) -> None:
        """`d` was refreshed (or tried) at `now`: next at now + its interval."""
        self._urgent.discard(d.id)
        self._next[d.id] = now + d.interval

    def urge(self, which: Callable[[Dashboard], bool]) -> list[int]:
        """Mark the known dashboards `which` selects for the next tick; their ids."""
        ids = [d.id for d in self._known.values() if which(d)]
        self._urgent.update(ids)
        self._wanted.append(which)
        return ids

    def next_at(self, dashboard_id: int) -> float | None:
        """When a dashboard is refreshed next (None: not scheduled yet)."""
        return self._next.get(dashboard_id)


def shows_instances(d: Dashboard, instances: Sequence[str], host_of: Callable[[str], str]) -> bool:
    """Whether an alert change on `instances` changes what `d` shows: the fleet, alerts and
    welcome dashboards always; a host dashboard when its host is one of them."""
    if d.params.type in ("fleet", "alerts", "welcome"):
        return True
    if d.params.type == "host":
        mine = d.params.target.casefold()
        return any(mine in (i.casefold(), host_of(i).casefold()) for i in instances)
    return False
