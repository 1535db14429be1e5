"""Projects and tasks through Core on a real SQLite database: commands, clicks, permissions,
the dashboard drawn by the real renderer, reminders and the digest across a restart."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.charts import render_chart
from bot.adapters.projects import SqliteProjectStore
from bot.adapters.sqlite import Database, SqliteAuditRepository
from bot.domain.catalogue import projects as part
from bot.domain.charts import Chart
from bot.domain.messages import Message, validate
from bot.domain.permissions import Actor, Role, RoleMap
from bot.domain.projects.model import replay
from bot.domain.projects.series import DAY
from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter
from bot.services.core import CONSOLE_ACTOR, Core
from bot.services.gate import Gate
from bot.services.projects import ProjectService

VIEWER = Actor(1, "vic")
OPERATOR = Actor(2, "olga", frozenset({70}))
ADMIN = Actor(3, "ada", frozenset({80}))
T0 = 1796256000.0  # 2026-12-03 00:00 UTC


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0 + 9 * 3600

    def __call__(self) -> float:
        return self.now


class InProcessRenderer:
    """The one renderer's drawing function, run in this process instead of its pool."""

    async def chart(self, chart: Chart) -> bytes:
        return render_chart(chart)


@dataclass
class Outbox:
    """Where reminders and digests went (the Discord face sends them for real)."""

    users: list[tuple[int, Message]] = field(default_factory=list)
    channels: list[tuple[int, Message]] = field(default_factory=list)

    async def to_user(self, user_id: int, msg: Message) -> None:
        self.users.append((user_id, msg))

    async def to_channel(self, channel_id: int, msg: Message) -> None:
        self.channels.append((channel_id, msg))


@dataclass
class World:
    core: Core
    service: ProjectService
    db: Database
    clock: Clock
    audit: SqliteAuditRepository


def build(db: Database, clock: Clock) -> tuple[Core, ProjectService, SqliteAuditRepository]:
    audit = SqliteAuditRepository(db)
    gate = Gate(
        RoleMap(roles={70: Role.OPERATOR, 80: Role.ADMIN}, default=Role.VIEWER),
        RateLimiter(
            {"query": BucketRule(1000, 1), "admin": BucketRule(1000, 1)}, Backoff(after=1000)
        ),
        audit,
        clock=clock,
    )
    service = ProjectService(
        SqliteProjectStore(db),
        InProcessRenderer(),
        timezone="UTC",
        digest_channel_id=99,
        clock=clock,
    )
    return Core(gate, [service]), service, audit


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """Core with the projects service on a fresh database."""
    db = await Database.open(tmp_path / "bot.sqlite3")
    clock = Clock()
    core, service, audit = build(db, clock)
    yield World(core, service, db, clock, audit)
    await db.close()


async def run(w: World, actor: Actor, command: str, **args: Any) -> Message:
    msg = await w.core.execute(actor, command, args)
    assert validate(msg) == [], msg
    return msg


EXPECTED = {
    "project create": Role.OPERATOR,
    "project list": Role.VIEWER,
    "project show": Role.VIEWER,
    "project archive": Role.ADMIN,
    "project delete": Role.ADMIN,
    "project restore": Role.ADMIN,
    "task add": Role.OPERATOR,
    "task edit": Role.OPERATOR,
    "task move": Role.OPERATOR,
    "task assign": Role.OPERATOR,
    "task done": Role.OPERATOR,
    "task show": Role.VIEWER,
    "task list": Role.VIEWER,
    "task delete": Role.OPERATOR,
    "task restore": Role.OPERATOR,
    "task thread": Role.OPERATOR,
}


def test_every_command_needs_the_documented_role() -> None:
    """Viewers list and show, operators change tasks, admins delete projects; buttons change
    tasks and need operator, paging needs viewer."""
    assert {c.name: c.permission for c in part.COMMANDS} == EXPECTED
    assert {c.route: c.permission for c in part.COMPONENTS} == {
        **{c.route: Role.OPERATOR for c in part.COMPONENTS},
        "task.page": Role.VIEWER,
    }


@pytest.mark.parametrize("actor", [VIEWER, OPERATOR, ADMIN], ids=lambda a: a.name)
async def test_roles_are_enforced_and_audited(world: World, actor: Actor) -> None:
    """Each role is refused exactly the commands above it, and changes are audited."""
    await run(world, CONSOLE_ACTOR, "project create", name="lab")
    await run(world, CONSOLE_ACTOR, "task add", project="lab", title="first")
    have = world.core.gate.roles.role_of(actor)
    calls = {
        "project list": {},
        "task list": {},
        "task show": {"task": 1},
        "task move": {"task": 1, "status": "todo"},
        "project delete": {"project": "lab"},
    }
    for name, args in calls.items():
        msg = await run(world, actor, name, **args)
        assert (msg.outcome == "refused") == (have < EXPECTED[name]), (name, msg.text)
    rows = [(e.record.action, e.record.outcome) for e in await world.audit.entries()]
    assert ("task move", "refused: needs operator" if have < Role.OPERATOR else "ok") in rows


async def test_a_dozen_tasks_over_simulated_days(world: World, tmp_path: Path) -> None:
    """Twelve tasks moved over ten days: the dashboard's counts, burndown and flow follow."""
    w = world
    assert (
        await run(w, OPERATOR, "project create", name="NAS upgrade", due="+14d")
    ).outcome == "ok"
    for i in range(12):
        msg = await run(
            w,
            OPERATOR,
            "task add",
            project="NAS upgrade",
            title=f"step {i}",
            labels="hw" if i % 2 else "sw",
            host="nas" if i < 3 else None,
        )
        assert msg.rows and msg.rows[0][0].custom_id == f"hl:task.start:{i + 1}"  # type: ignore[union-attr]
    for day in range(1, 11):
        w.clock.now += DAY
        await w.core.click(OPERATOR, "task.start", str(day))
        if day > 1:
            await w.core.click(OPERATOR, "task.done", str(day - 1))
    await w.core.click(OPERATOR, "task.block", "11")
    await w.core.click(OPERATOR, "task.claim", "11")
    dash = await run(w, VIEWER, "project show", project="NAS upgrade")
    counts = {f.name: f.value for f in dash.embeds[0].fields[:5]}
    assert counts == {"backlog": "1", "todo": "0", "doing": "1", "blocked": "1", "done": "9"}
    assert [i.filename for i in dash.images] == ["burndown.png", "flow.png", "throughput.png"]
    assert all(i.data.startswith(b"\x89PNG") for i in dash.images)
    # The stored state is exactly what the log replays to.
    store = w.service.store
    assert {t.id: t for t in await store.tasks()} == dict(replay(await store.events()).tasks)
    listed = await run(w, VIEWER, "task list", label="hw", status="done")
    assert listed.embeds[0].title == "4 tasks"  # done: 1-9; labelled hw: the even ones
    mine = await run(w, OPERATOR, "task list", mine="yes")
    assert mine.embeds[0].title == "1 task" and "#11" in mine.embeds[0].description
    assert (await run(w, VIEWER, "task list", host="nas")).embeds[0].title == "3 tasks"


async def test_soft_delete_and_restore(world: World) -> None:
    """A deleted task leaves the lists and comes back; a deleted project too (admins)."""
    w = world
    await run(w, OPERATOR, "project create", name="lab")
    await run(w, OPERATOR, "task add", project="lab", title="x")
    await run(w, OPERATOR, "task delete", task=1)
    assert (await run(w, VIEWER, "task list")).embeds[0].title == "0 tasks"
    assert (await w.core.click(OPERATOR, "task.start", "1")).text.startswith("Task #1 is deleted")
    await run(w, OPERATOR, "task restore", task=1)
    assert (await run(w, VIEWER, "task list")).embeds[0].title == "1 task"
    await run(w, ADMIN, "project delete", project="lab")
    assert (await run(w, VIEWER, "project show", project="lab")).outcome == "not_found"
    await run(w, ADMIN, "project restore", project="lab")
    assert (await run(w, VIEWER, "project show", project="lab")).outcome == "ok"


async def test_bad_input_gets_a_sentence(world: World) -> None:
    """A past due day and a control character are refused with what to do instead."""
    await run(world, OPERATOR, "project create", name="lab")
    past = await run(world, OPERATOR, "task add", project="lab", title="x", due="2026-01-01")
    assert past.outcome == "usage" and "is in the past; give today" in past.text
    bad = await run(world, OPERATOR, "task add", project="lab", title="a\u202eb")
    assert bad.outcome == "usage" and "control character" in bad.text


async def test_forms_create_and_edit(world: World) -> None:
    """The New project, New task and Edit forms (modals on Discord) create and change."""
    w = world
    await w.core.click(OPERATOR, "project.new", "", [], {"name": "lab", "due": "fri"})
    made = await w.core.click(OPERATOR, "task.new", "1", [], {"title": "wire it", "labels": "a,b"})
    assert made.text == "Task #1 added."
    edited = await w.core.click(OPERATOR, "task.edit", "1", [], {"title": "rewire it"})
    assert "rewire it" in edited.embeds[0].title


async def test_the_edit_form_opens_filled_in_and_a_field_sent_back_is_no_change(
    world: World,
) -> None:
    """The Edit form opens with the task as it stands (due as its day in the guild's zone);
    sent back with only the title changed, the overdue task's due day is kept, not refused as
    a day in the past, and only the title is in the event log."""
    w = world
    await run(w, OPERATOR, "project create", name="lab")
    await run(w, OPERATOR, "task add", project="lab", title="wire it", due="tomorrow",
              labels="net, rack", description="cat6")  # fmt: skip
    assert await w.core.form_defaults("task.new", "1") == {}  # a new task's form opens blank
    w.clock.now += 3 * DAY  # overdue now
    filled = await w.core.form_defaults("task.edit", "1")
    assert filled == {"title": "wire it", "description": "cat6", "due": "2026-12-04",
                      "labels": "net, rack"}  # fmt: skip
    before = len(await w.service.store.events())
    edited = await w.core.click(OPERATOR, "task.edit", "1", [], {**filled, "title": "rewire"})
    assert edited.outcome == "ok" and "rewire" in edited.embeds[0].title, edited
    (task,) = await w.service.store.tasks()
    assert task.title == "rewire" and task.labels == ("net", "rack") and task.description == "cat6"
    events = (await w.service.store.events())[before:]
    assert len(events) == 1 and "title" in str(events[0]), events
    assert await w.core.form_defaults("task.edit", "99") == {}  # no such task: a blank form


async def test_reminders_and_digest_survive_a_restart(world: World) -> None:
    """A reminder 24 h before and one digest a day, never twice, across a new service."""
    w = world
    await run(w, OPERATOR, "project create", name="lab")
    await run(w, OPERATOR, "task add", project="lab", title="soon", due="tomorrow", assignee=42)
    await run(w, OPERATOR, "task add", project="lab", title="later", due="+5d", assignee=43)
    out = Outbox()
    w.clock.now = T0 + DAY + 3600  # within 24 h of task 1's end of day tomorrow
    assert await w.service.send_reminders(out) == 1
    assert out.users[0][0] == 42 and "Reminder" in out.users[0][1].text
    # A restart: a new service on the same database sends nothing again.
    _, again, _ = build(w.db, w.clock)
    assert await again.send_reminders(out) == 0
    w.clock.now = T0 + 2 * DAY + 3600  # task 1 is overdue now
    assert await again.send_digest(out) is True
    assert await again.send_digest(out) is False
    assert out.channels[0][0] == 99 and "1 overdue task" in out.channels[0][1].embeds[0].title
    w.clock.now += DAY
    assert await w.service.send_digest(out) is True  # the next day's digest


async def test_an_archived_or_deleted_project_is_neither_reminded_nor_digested(
    world: World,
) -> None:
    """Its tasks rest: no reminder for a task due tomorrow, no digest line once overdue."""
    w = world
    for name in ("kept", "shelved", "dropped"):
        await run(w, OPERATOR, "project create", name=name)
        await run(w, OPERATOR, "task add", project=name, title=f"{name} task", due="tomorrow",
                  assignee=42)  # fmt: skip
    await run(w, ADMIN, "project archive", project="shelved")
    await run(w, ADMIN, "project delete", project="dropped")
    out = Outbox()
    w.clock.now = T0 + DAY + 3600
    assert await w.service.send_reminders(out) == 1
    assert out.users[0][1].embeds[0].title == "#1 kept task"
    w.clock.now = T0 + 2 * DAY + 3600
    assert await w.service.send_digest(out) is True
    assert out.channels[0][1].embeds[0].title == "1 overdue task"


async def test_every_project_and_task_command_works_on_the_console(
    world: World, tmp_path: Path
) -> None:
    """Each of the catalogue's /project and /task commands, typed as a console line, runs as
    the console's owner and succeeds; the dashboard's PNGs are written to the image folder."""
    from bot.interfaces.console.face import Console

    out = io.StringIO()
    console = Console(world.core, tmp_path / "images", out=out)
    lines = [
        'project create "NAS upgrade" --description "Disks and fans" --due +14d',
        'project create Spare',
        'project list --archived yes',
        'task add "NAS upgrade" "Order disks" --labels hw --host nas --priority high --due fri',
        'task add "NAS upgrade" "Swap fans" --assignee 42',
        'task edit 1 --title "Order 4 disks" --due none',
        'task move 1 doing',
        'task assign 1 42',
        'task done 1',
        'task show 2',
        'task list --project "NAS upgrade" --status done --label hw --host nas',
        'task list --mine yes --overdue no --page 1',
        'task thread 2',
        'task delete 2',
        'task restore 2',
        'project show "NAS upgrade"',
        'project archive Spare',
        'project delete Spare',
        'project restore Spare',
    ]
    ran = set()
    for line in lines:
        msg = await console.run_line(line)
        assert msg is not None and msg.outcome == "ok", (line, out.getvalue()[-500:])
        assert validate(msg) == []
        ran.add(" ".join(line.split()[:2]))
    assert ran == {c.name for c in part.COMMANDS}
    assert {p.name for p in (tmp_path / "images").iterdir()} == {
        "burndown.png", "flow.png", "throughput.png"}  # fmt: skip
    printed = out.getvalue()
    assert "== #1 Order 4 disks ==" in printed and "done: 1" in printed
