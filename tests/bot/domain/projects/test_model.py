"""The projects model: validation, changes as events, and replay of the log."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.messages import validate
from bot.domain.projects import model
from bot.domain.projects.dashboard import activity_line
from bot.domain.projects.dates import DueDateError, parse_due
from bot.domain.projects.model import STATUSES, Event, ProjectError, Task, replay
from bot.domain.projects.series import DAY, burndown, cumulative_flow, throughput
from bot.domain.projects.views import TaskFilter, task_list, task_message

T0 = 1796256000.0  # 2026-12-03 00:00 UTC, a Thursday
BERLIN = ZoneInfo("Europe/Berlin")


def test_titles_are_checked() -> None:
    """Empty titles, overlong titles and control characters are refused with a sentence."""
    with pytest.raises(ProjectError, match="empty"):
        model.new_task(1, 1, "  ", actor="a", at=T0)
    with pytest.raises(ProjectError, match="at most 200"):
        model.new_task(1, 1, "x" * 201, actor="a", at=T0)
    with pytest.raises(ProjectError, match="control character"):
        model.new_task(1, 1, "bad\x1b[31m", actor="a", at=T0)
    with pytest.raises(ProjectError, match="control character"):
        model.new_project(1, "two\nlines", actor="a", at=T0)


def test_move_stamps_started_and_completed() -> None:
    """The first move to doing stamps started; done stamps completed; reopening clears it."""
    task, _ = model.new_task(1, 1, "fans", actor="a", at=T0)
    task, _ = model.move(task, "doing", actor="a", at=T0 + 10)
    task, e2 = model.move(task, "done", actor="a", at=T0 + 20)
    assert (task.started, task.completed) == (T0 + 10, T0 + 20)
    assert e2 is not None and e2.before == {"status": "doing", "completed": None}
    task, _ = model.move(task, "todo", actor="a", at=T0 + 30)
    assert task.completed is None and task.started == T0 + 10


def test_text_is_escaped_in_messages() -> None:
    """Markdown and mentions in a title are shown, not interpreted."""
    task, _ = model.new_task(1, 1, "@everyone *now*", actor="a", at=T0)
    msg = task_message(task, "p", T0)
    assert "@everyone" not in msg.embeds[0].title and "\\*now\\*" in msg.embeds[0].title
    assert validate(msg) == []
    assert [b.label for b in msg.rows[0]] == ["Start", "Done", "Assign me", "Block", "Edit"]


def test_due_dates_in_the_guild_zone() -> None:
    """Dates, weekdays and presets name a day in the guild's zone; past days are refused."""
    now = datetime(2026, 12, 3, 23, 30, tzinfo=BERLIN)  # Thursday evening in Berlin
    assert parse_due("fri", now).date().isoformat() == "2026-12-04"
    assert parse_due("thu", now).date().isoformat() == "2026-12-03"
    assert parse_due("tomorrow", now).date().isoformat() == "2026-12-04"
    assert parse_due("+3d", now).date().isoformat() == "2026-12-06"
    assert parse_due("24.12.", now).date().isoformat() == "2026-12-24"
    assert parse_due("2026-12-24", now).tzinfo is BERLIN
    with pytest.raises(DueDateError, match="in the past; give today"):
        parse_due("2026-12-02", now)
    with pytest.raises(DueDateError, match="cannot read"):
        parse_due("someday", now)


def test_list_pages_fit_discord() -> None:
    """Forty tasks list 15 a page with Next; each page is a valid message."""
    tasks = [model.new_task(i, 1, f"task {i}", actor="a", at=T0)[0] for i in range(1, 41)]
    first = task_list(tasks, TaskFilter(), T0, {})
    assert first.embeds[0].footer == "page 1 of 3" and validate(first) == []
    arg = first.rows[0][1].custom_id.split(":", 2)[2]  # type: ignore[union-attr]
    flt = TaskFilter.decode(arg)
    assert flt is not None and flt.page == 2
    assert task_list(tasks, flt, T0, {}).embeds[0].description.startswith("`#16`")


def _day_history() -> list[Event]:
    """Four tasks moved through their states over four days."""
    events: list[Event] = []
    tasks: dict[int, Task] = {}
    for i in range(1, 5):
        tasks[i], e = model.new_task(i, 7, f"t{i}", actor="a", at=T0)
        events.append(e)
    for day, (tid, status) in enumerate(
        [(1, "doing"), (1, "done"), (2, "done"), (3, "blocked")], start=1
    ):
        tasks[tid], e2 = model.move(tasks[tid], status, actor="a", at=T0 + day * DAY - 60)
        assert e2 is not None
        events.append(e2)
    return events


def test_burndown_and_flow_from_the_log() -> None:
    """Remaining falls 4,4,3,2,2; flow has done 0,0,1,2,2 and blocked only at the end."""
    events = _day_history()
    remaining, ideal = burndown(events, 7, T0, T0 + 4 * DAY, due=T0 + 8 * DAY)
    assert [v for _, v in remaining.points] == [4, 4, 3, 2, 2]
    assert ideal.points == tuple((T0 + d * DAY, 4.0 - d / 2) for d in range(9))
    flow = {s.name: [v for _, v in s.points] for s in cumulative_flow(events, 7, T0, T0 + 4 * DAY)}
    assert flow["done"] == [0, 0, 1, 2, 2]
    assert flow["blocked"] == [0, 0, 0, 0, 1]
    assert flow["backlog"] == [4, 3, 3, 2, 1]
    assert [v for _, v in throughput(events, 7, T0, T0 + 14 * DAY).points] == [2.0, 0.0, 0.0]
    # Another project's log changes nothing.
    assert [v for _, v in burndown(events, 8, T0, T0 + DAY, None)[0].points] == [0, 0]


def test_a_log_out_of_order_counts_by_time() -> None:
    """Events handed over out of time order (a merged log: task 1's moves before tasks 3 and
    4 were added, though they were added first) give the same series."""
    events = _day_history()
    e = events
    shuffled = [e[0], e[1], e[4], e[5], e[2], e[3], e[6], e[7]]
    assert burndown(shuffled, 7, T0, T0 + 4 * DAY, None)[0] == burndown(
        events, 7, T0, T0 + 4 * DAY, None
    )[0]


def test_the_ideal_line_starts_at_the_scope_not_before_the_project() -> None:
    """A chart that begins two days before the tasks existed (the dashboard shows at least
    two weeks) aims from the first day with open work, 4 tasks, to 0 at the due date."""
    events = _day_history()
    remaining, ideal = burndown(events, 7, T0 - 2 * DAY, T0 + 4 * DAY, due=T0 + 8 * DAY)
    assert [v for _, v in remaining.points] == [0, 0, 4, 4, 3, 2, 2]
    assert ideal.points[0] == (T0, 4.0) and ideal.points[-1] == (T0 + 8 * DAY, 0.0)


ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "move", "assign", "edit", "delete", "restore"]),
        st.integers(1, 4),
        st.sampled_from(STATUSES),
        st.integers(1, 3),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_replaying_the_log_reproduces_the_state(steps: list[tuple[str, int, str, int]]) -> None:
    """Whatever changes happen, folding the event log gives the tasks' current state."""
    tasks: dict[int, Task] = {}
    events: list[Event] = []
    at = T0
    for op, tid, status, user in steps:
        at += 60
        event: Event | None
        if op == "create" or tid not in tasks:
            if tid in tasks:
                continue
            tasks[tid], event = model.new_task(tid, 1, f"t{tid}", actor="a", at=at)
        elif op == "move":
            if tasks[tid].deleted:
                continue
            tasks[tid], event = model.move(tasks[tid], status, actor="a", at=at)
        elif op == "assign":
            tasks[tid], event = model.assign(tasks[tid], user, actor="a", at=at)
        elif op == "edit":
            tasks[tid], event = model.edit_task(
                tasks[tid], actor="a", at=at, labels=[status], title=f"t{tid} {user}"
            )
        else:
            tasks[tid], event = model.set_deleted(tasks[tid], op == "delete", actor="a", at=at)
        if event is not None:
            events.append(event)
    assert dict(replay(events).tasks) == tasks
    # The flow's last sample counts exactly the live tasks in each status.
    if events:
        last = {s.name: s.points[-1][1] for s in cumulative_flow(events, 1, T0, at)}
        for s in STATUSES:
            assert last[s] == sum(1 for t in tasks.values() if t.status == s and not t.deleted)


def test_activity_lines_read_as_sentences() -> None:
    """The dashboard's recent activity: past tense for projects and tasks alike."""
    project, made = model.new_project(1, "lab", actor="ann", at=T0)
    _, archived = model.edit_project(project, actor="ann", at=T0, action="archive", archived=True)
    task, added = model.new_task(3, 1, "fans", actor="bo", at=T0)
    _, moved = model.move(task, "doing", actor="bo", at=T0)
    assert archived is not None and moved is not None
    lines = [activity_line(e, {3: "fans"}) for e in (made, archived, added, moved)]
    assert [line.split("> ", 1)[1] for line in lines] == [
        "ann created the project",
        "ann archived the project",
        "bo added #3 fans",
        "bo moved #3 fans: backlog → doing",
    ]


def test_a_still_project_draws_the_same_charts_within_the_hour() -> None:
    """The charts end at the end of the current hour: twenty minutes without a change draw
    the same charts (a live dashboard is left alone), the next hour moves the axis, and the
    last point holds a change made a minute ago."""
    from dataclasses import replace

    from bot.domain.projects.dashboard import BURNDOWN_PNG, ProjectData, dashboard_charts

    project, _ = model.new_project(7, "lab", actor="a", at=T0)
    events = _day_history()
    state = replay(events)
    data = ProjectData(project, tuple(state.tasks.values()), tuple(events), T0 + 4 * DAY + 600)
    later = replace(data, now=data.now + 1200)
    assert dashboard_charts(data) == dashboard_charts(later)
    assert dashboard_charts(replace(data, now=data.now + 3600)) != dashboard_charts(data)
    _, moved = model.move(state.tasks[4], "done", actor="a", at=data.now - 60)
    assert moved is not None
    fresh = replace(data, events=(*events, moved))
    remaining = dashboard_charts(fresh)[BURNDOWN_PNG].series[0]
    assert remaining.points[-1][1] == 1.0  # 4 tasks: 1, 2 and now 4 done
