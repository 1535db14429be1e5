"""The project dashboard and the weekly report's projects section, as pure functions.

`dashboard_charts(data)` says what to draw (burndown, cumulative flow, weekly throughput, all
from the event log); the caller renders them with the one chart renderer and passes the PNGs
back in `data.images`; `project_dashboard(params, data)` builds the message.

Example::

    data = ProjectData(project, tasks, events, now)
    pngs = {name: render_chart(c) for name, c in dashboard_charts(data).items()}
    msg = project_dashboard({"project": project.name}, replace(data, images=pngs))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.domain.catalogue import projects as part
from bot.domain.charts import Chart, Series
from bot.domain.dashboards.model import DashboardType, Params, View
from bot.domain.dashboards.panels import controls
from bot.domain.messages import Button, ButtonStyle, Embed, Field, Image, Message
from bot.domain.projects.model import STATUSES, Event, Project, Task
from bot.domain.projects.series import DAY, WEEK, burndown, cumulative_flow, throughput
from bot.domain.projects.views import task_line
from bot.domain.reports.sections import SectionView
from bot.domain.text import escape

log = logging.getLogger(__name__)

SOURCE = "the project's event log"
BURNDOWN_PNG = "burndown.png"
FLOW_PNG = "flow.png"
THROUGHPUT_PNG = "throughput.png"
RECENT = 8  # activity lines on the dashboard
OVERDUE_SHOWN = 10
# The dashboard's charts cover the project's life, at least two weeks.
MIN_SPAN = 14 * DAY
CHART_END_STEP = 3600.0


@dataclass(frozen=True, slots=True)
class ProjectData:
    """What a project's dashboard reads: the project, its tasks, the whole log, and the PNGs
    of `dashboard_charts` once rendered (filename -> bytes)."""

    project: Project
    tasks: Sequence[Task]
    events: Sequence[Event]
    now: float
    images: Mapping[str, bytes] = field(default_factory=dict)


def _span(data: ProjectData) -> tuple[float, float]:
    """The charts' time range: the project's life, at least two weeks, up to the end of the
    current hour. The last point (taken at that end) holds every change made so far, and a
    live dashboard whose tasks stand still is redrawn at most once an hour (the range is in
    its digest), not at every interval."""
    end = math.ceil(data.now / CHART_END_STEP) * CHART_END_STEP
    start = data.project.created
    mine = [e.at for e in data.events if _of_project(e, data)]
    if mine:
        start = min(start, min(mine)) if start else min(mine)
    start = min(start or end, end - MIN_SPAN)
    return start, end


def _of_project(event: Event, data: ProjectData) -> bool:
    if event.entity == "project":
        return event.entity_id == data.project.id
    ids = {t.id for t in data.tasks}
    return event.entity_id in ids


def dashboard_charts(data: ProjectData) -> dict[str, Chart]:
    """Burndown, cumulative flow and weekly throughput of the project, by PNG filename."""
    p = data.project
    start, end = _span(data)
    remaining, ideal = burndown(data.events, p.id, start, end, p.due)
    flow = cumulative_flow(data.events, p.id, start, end)
    weekly = throughput(data.events, p.id, start, end)
    burn_end = max(end, p.due) if p.due is not None else end
    name = p.name
    return {
        BURNDOWN_PNG: Chart(
            f"Burndown · {name}",
            (remaining, ideal),
            start,
            burn_end,
            unit="",
            source=SOURCE,
            step=DAY,
            minimum=0.0,
        ),
        FLOW_PNG: Chart(
            f"Cumulative flow · {name}",
            flow,
            start,
            end,
            unit="",
            source=SOURCE,
            step=DAY,
            minimum=0.0,
            stacked=True,
        ),
        THROUGHPUT_PNG: Chart(
            f"Done per week · {name}",
            (weekly,),
            start,
            end,
            unit="count",
            source=SOURCE,
            step=WEEK,
            minimum=0.0,
            bars=True,
        ),
    }


def project_dashboard(params: Mapping[str, str], data: ProjectData) -> Message:
    """The dashboard: a column count each, overdue tasks, recent activity, the three charts
    (those rendered into `data.images`), and a New task button."""
    p = data.project
    live = [t for t in data.tasks if not t.deleted]
    counts = {s: sum(1 for t in live if t.status == s) for s in STATUSES}
    overdue = sorted((t for t in live if t.overdue(data.now)), key=lambda t: t.due or 0)
    fields = [Field(s, str(counts[s]), True) for s in STATUSES]
    if overdue:
        lines = [task_line(t, data.now) for t in overdue[:OVERDUE_SHOWN]]
        if len(overdue) > OVERDUE_SHOWN:
            lines.append(f"… and {len(overdue) - OVERDUE_SHOWN} more")
        fields.append(Field(f"Overdue ({len(overdue)})", "\n".join(lines)[:1024]))
    titles = {t.id: t.title for t in data.tasks}
    ids = set(titles)
    recent = [
        e
        for e in data.events
        if (e.entity == "task" and e.entity_id in ids)
        or (e.entity == "project" and e.entity_id == p.id)
    ][-RECENT:]
    if recent:
        fields.append(
            Field(
                "Recent activity",
                "\n".join(activity_line(e, titles) for e in reversed(recent))[:1024],
            )
        )
    state = "archived" if p.archived else p.status.replace("_", " ")
    due = f" · due <t:{int(p.due)}:D>" if p.due is not None else ""
    embeds = [
        Embed(
            title=f"Project {escape(p.name)}"[:256],
            description=(escape(p.description) + f"\n{state}{due}").strip(),
            fields=tuple(fields),
            footer="charts from the project's event log",
        )
    ]
    images = []
    for name, title in (
        (BURNDOWN_PNG, "Burndown"),
        (FLOW_PNG, "Cumulative flow"),
        (THROUGHPUT_PNG, "Done per week"),
    ):
        png = data.images.get(name)
        if png is not None:
            embeds.append(Embed(title=title, image=name))
            images.append(Image(name, png, description=f"{title} of {p.name}"))
    new = Button(
        part.TASK_NEW_FORM.custom_id(str(p.id)),
        "New task",
        part.TASK_NEW_FORM.permission,
        ButtonStyle.PRIMARY,
    )
    return Message(embeds=tuple(embeds), images=tuple(images), rows=((new,),))


def activity_line(event: Event, titles: Mapping[int, str]) -> str:
    """`<t:..:R> ann moved #3 title: todo → doing`."""
    who = escape(event.actor)
    when = f"<t:{int(event.at)}:R>"
    if event.entity == "project":
        done = {"create": "created", "edit": "edited"}.get(event.action, event.action + "d")
        return f"{when} {who} {done} the project"
    what = f"#{event.entity_id} {escape(titles.get(event.entity_id, ''))}".strip()
    if "status" in event.after and event.action != "create":
        return f"{when} {who} moved {what}: {event.before.get('status')} → {event.after['status']}"
    verb = {"create": "added", "delete": "deleted", "restore": "restored"}.get(
        event.action, event.action + ("ed" if not event.action.endswith("e") else "d")
    )
    return f"{when} {who} {verb} {what}"


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One project's week: tasks done, opened, overdue now."""

    name: str
    done: int
    opened: int
    overdue: int


def week_figures(
    projects: Sequence[Project],
    tasks: Sequence[Task],
    events: Sequence[Event],
    start: float,
    end: float,
) -> list[WeekFigures]:
    """For each live project, what its week [start, end) held, from the log."""
    project_of = {t.id: t.project_id for t in tasks}
    out = []
    for p in sorted(projects, key=lambda p: p.name.casefold()):
        if p.deleted or p.archived:
            continue
        mine = [
            e
            for e in events
            if e.entity == "task" and project_of.get(e.entity_id) == p.id and start <= e.at < end
        ]
        done = sum(1 for e in mine if e.after.get("status") == "done")
        opened = sum(1 for e in mine if e.action == "create")
        late = sum(1 for t in tasks if t.project_id == p.id and t.overdue(end))
        out.append(WeekFigures(p.name, done, opened, late))
    return out


def report_chart(
    projects: Sequence[Project], events: Sequence[Event], start: float, end: float
) -> Chart:
    """Weekly throughput of every live project over [start, end], bars side by side."""
    live = sorted(
        (p for p in projects if not (p.deleted or p.archived)), key=lambda p: p.name.casefold()
    )
    series = []
    for p in live:
        s = throughput(events, p.id, start, end)
        series.append(Series({"project": p.name}, s.points, name=p.name))
    return Chart(
        "Tasks done per week", tuple(series), start, end, unit="count", source=SOURCE,
        step=WEEK, minimum=0.0, bars=True,
    )


PROJECTS_REPORT_CHART = "report-weekly-projects.png"


def projects_report_view(
    figures: Sequence[WeekFigures], chart_file: str | None = None
) -> SectionView:
    """The weekly report's projects section: done, opened and overdue per project this week,
    and the throughput chart (by file name) when one was drawn. Text is escaped by the
    report's faces (Discord markdown, HTML), not here."""
    total = (
        f"This week: {sum(f.done for f in figures)} done, "
        f"{sum(f.opened for f in figures)} opened, {sum(f.overdue for f in figures)} overdue."
    )
    return SectionView(
        lines=(total,),
        headers=("project", "done", "opened", "overdue"),
        rows=tuple((f.name, str(f.done), str(f.opened), str(f.overdue)) for f in figures),
        charts=(chart_file,) if chart_file else (),
    )


def _project_charts(params: Params, data: ProjectData) -> dict[str, Chart]:
    return dashboard_charts(data)


def _project_message(params: Params, data: ProjectData, view: View) -> Message:
    msg = project_dashboard({"project": params.target}, replace(data, images=view.images))
    live = controls(view, params)[:1]  # Refresh: the charts cover the project's life
    return replace(msg, rows=(*msg.rows, *live))


# The project type of the dashboard registry (bot.domain.dashboards.types).
PROJECT = DashboardType(
    "project",
    "one project: columns, overdue tasks, activity, burndown, cumulative flow, throughput",
    _project_charts,
    _project_message,
    subject="project",
)
