"""Chart series computed from the event log alone: burndown, cumulative flow, throughput.

Each function samples the log's state at regular times, so a chart redrawn later shows the
same history. Times are Unix seconds.

Example::

    remaining, ideal = burndown(events, project_id=1, start=t0, end=t0 + 7 * DAY, due=t0 + 10 * DAY)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.domain.charts import Series
from bot.domain.projects.model import STATUSES, Event

log = logging.getLogger(__name__)

DAY = 86400.0
WEEK = 7 * DAY


@dataclass(frozen=True, slots=True)
class Transition:
    """Task `task_id` of project `project_id` entered `status` (None: deleted) at `at`."""

    at: float
    task_id: int
    project_id: int
    status: str | None


def transitions(events: Iterable[Event], project_id: int) -> list[Transition]:
    """Every status change of the project's tasks, deletes and restores included, in order."""
    out: list[Transition] = []
    status: dict[int, str] = {}
    project_of: dict[int, int] = {}
    for e in events:
        if e.entity != "task":
            continue
        if e.action == "create":
            project_of[e.entity_id] = int(e.after["project_id"])
            status[e.entity_id] = str(e.after["status"])
            if e.after.get("deleted"):
                continue
        elif "status" in e.after:
            status[e.entity_id] = str(e.after["status"])
        if project_of.get(e.entity_id) != project_id:
            continue
        if e.action == "create" or "status" in e.after or "deleted" in e.after:
            deleted = bool(e.after.get("deleted", False)) if "deleted" in e.after else False
            shown = None if deleted else status[e.entity_id]
            out.append(Transition(e.at, e.entity_id, project_id, shown))
    # The store's log is in order; a merged or hand-made one may not be, and the counts
    # walk it by time.
    out.sort(key=lambda m: m.at)
    return out


def samples(start: float, end: float, step: float) -> list[float]:
    """start, start + step, ... up to and including end."""
    n = max(0, int((end - start) // step))
    times = [start + i * step for i in range(n + 1)]
    if not times or times[-1] < end:
        times.append(end)
    return times


def status_counts(moves: Sequence[Transition], times: Sequence[float]) -> list[dict[str, int]]:
    """At each time, how many tasks are in each status."""
    out: list[dict[str, int]] = []
    current: dict[int, str | None] = {}
    i = 0
    for t in times:
        while i < len(moves) and moves[i].at <= t:
            current[moves[i].task_id] = moves[i].status
            i += 1
        counts = dict.fromkeys(STATUSES, 0)
        for s in current.values():
            if s is not None:
                counts[s] += 1
        out.append(counts)
    return out


def burndown(
    events: Iterable[Event],
    project_id: int,
    start: float,
    end: float,
    due: float | None,
    step: float = DAY,
) -> tuple[Series, Series]:
    """(remaining open tasks over time, the ideal line from the scope to 0 at `due`, a point
    every `step`).

    The ideal line starts at the first sample with open work (a chart that begins before
    the project would otherwise aim from 0 to 0); without a due date it ends at `end`.
    """
    moves = transitions(events, project_id)
    times = samples(start, end, step)
    remaining = [
        (t, float(sum(v for k, v in c.items() if k != "done")))
        for t, c in zip(times, status_counts(moves, times), strict=True)
    ]
    begin, first = next(((t, v) for t, v in remaining if v > 0), (start, 0.0))
    target = due if due is not None and due > begin else max(end, begin)
    # A point every step: the renderer draws a stretch without points as a gap.
    span = target - begin
    ideal = tuple(
        (t, round(first * (1 - (t - begin) / span), 6) if span > 0 else 0.0)
        for t in samples(begin, target, step)
    )
    return (
        Series({"series": "remaining"}, tuple(remaining), name="remaining"),
        Series({"series": "ideal"}, ideal, name="ideal"),
    )


def cumulative_flow(
    events: Iterable[Event], project_id: int, start: float, end: float, step: float = DAY
) -> tuple[Series, ...]:
    """One series per status (done at the bottom), for stacked areas."""
    moves = transitions(events, project_id)
    times = samples(start, end, step)
    counts = status_counts(moves, times)
    order = tuple(reversed(STATUSES))  # done, blocked, doing, todo, backlog
    return tuple(
        Series(
            {"status": s},
            tuple((t, float(c[s])) for t, c in zip(times, counts, strict=True)),
            name=s,
        )
        for s in order
    )


def throughput(
    events: Iterable[Event], project_id: int, start: float, end: float, step: float = WEEK
) -> Series:
    """How many times the project's tasks reached done in each period [t, t + step), plotted
    at the period's start (a task reopened and done again counts again)."""
    done_at = [m.at for m in transitions(events, project_id) if m.status == "done"]
    times = samples(start, end, step)
    if len(times) > 1 and times[-1] - times[-2] < step:
        times = times[:-1]
    points = tuple((t, float(sum(1 for at in done_at if t <= at < t + step))) for t in times)
    return Series({"series": "done"}, points, name="done per week")
