"""Projects and tasks in simcord (in-memory Discord running the real discord.py client) on a
real runtime and SQLite database: /project and /task with autocomplete, the forms (modals),
the task buttons as dynamic items across a restart, permissions with their audit rows, the
reminders and the overdue digest on simcord's clock across restarts, and a project of a
dozen tasks moved over simulated days whose live dashboard (and console) shows the burndown
and cumulative flow its history says."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import simcord

from bot.adapters.charts import render_chart
from bot.adapters.sqlite import SqliteAuditRepository
from bot.domain.messages import validate
from bot.domain.projects.dashboard import BURNDOWN_PNG, FLOW_PNG, dashboard_charts
from bot.domain.projects.model import STATUSES
from bot.domain.projects.series import DAY
from bot.interfaces.console.face import Console
from bot.interfaces.discord.client import EXTENSIONS, HomelabBot
from bot.interfaces.runtime import Runtime, role_map
from bot.services.core import CONSOLE_ACTOR
from bot.services.dashboards import DashboardService
from bot.services.projects import ProjectService
from tests.bot.conftest import make_settings
from tests.integration.test_alert_buttons import alert, alert_world, modal_inputs, text_of
from tests.integration.test_alerts_end_to_end import bot_messages, until

pytestmark = pytest.mark.integration



def modal_values(shown: Any) -> dict[str, str]:
    """The modal's text inputs as they open: custom_id -> the value filled in."""
    out: dict[str, str] = {}

    def walk(nodes: list[Any]) -> None:
        for n in nodes:
            if n.get("type") == 4:
                out[n["custom_id"]] = n.get("value") or ""
            if "component" in n:
                walk([n["component"]])
            walk(n.get("components", []))

    walk(shown.modal["components"])
    return out

def _projects(rt: Runtime) -> ProjectService:
    service = rt.core.feature(ProjectService)
    assert service is not None
    return service


@dataclass
class World:
    """A runtime, simcord's Discord, and a guild with a viewer, an operator and an admin."""

    tmp_path: Path
    settings: Any
    rt: Runtime
    env: Any
    guild: Any
    channel: Any
    digest: Any
    vic: Any
    olga: Any
    ada: Any
    roles: Any

    @property
    def service(self) -> ProjectService:
        """The projects feature of the current runtime."""
        return _projects(self.rt)

    async def restart(self, extensions: tuple[str, ...]) -> None:
        """A new runtime over the same database and a new bot in the same simcord."""
        old = self.rt
        self.rt = await Runtime.build(self.settings)
        self.rt.core.gate.roles = self.roles
        self._wire()
        await self.env.restart_bot(HomelabBot(self.settings, self.rt.core, extensions=extensions))
        await old.close()

    def _wire(self) -> None:
        # The feature reads simcord's clock: due days, reminders and digests in its time.
        self.service.clock = lambda: self.env.now().timestamp()
        self.service.digest_channel_id = self.digest.id

    async def audit(self, n: int = 60) -> list[Any]:
        """The latest audit records, oldest first."""
        return [e.record for e in await SqliteAuditRepository(self.rt.db).tail(n)]


@asynccontextmanager
async def project_world(
    tmp_path: Path, extensions: tuple[str, ...] = EXTENSIONS
) -> AsyncIterator[World]:
    """simcord running the bot on a fresh runtime; the roles ops (operator), boss (admin)."""
    # Roomy rate limits: the test clicks faster than people do (the limits have their tests).
    roomy = {"capacity": 1000, "per_seconds": 1}
    settings = make_settings(
        tmp_path,
        projects={"digest_hour": 9, "timezone": "UTC"},
        rate_limits={"classes": dict.fromkeys(("query", "meta", "admin"), roomy),
                     "backoff_after": 1000},
    )  # fmt: skip
    rt = await Runtime.build(settings)
    w: World | None = None
    try:
        async with simcord.run(HomelabBot(settings, rt.core, extensions=extensions)) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("plans")
            digest = guild.create_text_channel("digest")
            ops, boss = guild.create_role("ops"), guild.create_role("boss")
            roles = role_map(make_settings(tmp_path, roles={
                "operator": {"role_ids": [ops.id]}, "admin": {"role_ids": [boss.id]}}))  # fmt: skip
            rt.core.gate.roles = roles
            w = World(
                tmp_path, settings, rt, env, guild, channel, digest,
                guild.add_member(env.create_user("vic")),
                guild.add_member(env.create_user("olga"), roles=[ops]),
                guild.add_member(env.create_user("ada"), roles=[boss]),
                roles,
            )  # fmt: skip
            w._wire()
            yield w
    finally:
        await (w.rt if w is not None else rt).close()


def answer(result: Any) -> Any:
    """The message an interaction answered with (the last of its response and follow-ups)."""
    found = [m for m in [result.response, *result.followups] if m is not None]
    found = [m for m in found if m.content or m.embeds or m.components]
    assert found, result
    return found[-1].message


def public(channel: Any) -> list[Any]:
    """The bot's public messages in `channel`, oldest first."""
    return [m for m in channel.history() if m.author.bot and not m.flags.ephemeral]


def labels(message: Any) -> list[str]:
    """The labels of a message's buttons."""
    return [c.label for r in message.components for c in r.children]


def fields(message: Any) -> dict[str, str]:
    """The first embed's fields by name."""
    return {f.name: f.value for f in message.embeds[0].fields}


def choices(found: list[dict[str, Any]]) -> list[str]:
    """The names of autocomplete choices."""
    return [c["name"] for c in found]


async def test_commands_forms_autocomplete_and_permissions(tmp_path: Path) -> None:
    """An operator creates a project and tasks through the forms (modals) and the commands;
    autocomplete offers projects, tasks, hosts and what restore can bring back; a viewer is
    refused every change (the refusals audited) but lists and shows; deleting a project
    needs an admin; every change is in the audit log."""
    async with project_world(tmp_path) as w:
        # /project create without a name opens the New project form.
        shown = await w.olga.slash(w.channel, "project create")
        assert shown.modal is not None, shown
        assert modal_inputs(shown) == {"Name": "name", "Description": "description", "Due": "due"}
        made = await w.olga.submit_modal(shown, {"name": "NAS upgrade", "due": "+14d"})
        assert "Project **NAS upgrade** created" in text_of(made), text_of(made)
        refused = await w.vic.slash(w.channel, "project create")
        assert refused.modal is None and "**operator**" in text_of(refused)
        refused = await w.vic.slash(w.channel, "project create", name="mine")
        assert "**operator**" in text_of(refused)

        # /task add without a title opens the New task form for that project.
        shown = await w.olga.slash(w.channel, "task add", project="NAS upgrade")
        assert shown.modal is not None, shown
        assert set(modal_inputs(shown)) == {"Title", "Description", "Due", "Labels"}
        added = answer(await w.olga.submit_modal(
            shown, {"title": "Order disks", "due": "fri", "labels": "hw, order"}))  # fmt: skip
        assert added.embeds[0].title == "#1 Order disks", added.embeds[0].to_dict()
        assert labels(added) == ["Start", "Done", "Assign me", "Block", "Edit"]
        assert fields(added)["Labels"] == "hw, order" and "Due" in fields(added)
        nowhere = await w.olga.slash(w.channel, "task add", project="nope")
        assert nowhere.modal is None and "There is no project 'nope'" in text_of(nowhere)
        r = await w.olga.slash(w.channel, "task add", project="NAS upgrade",
                               title="Swap <fans> @everyone", host="nas", assignee=w.vic)
        second = answer(r)
        # Shown escaped: no markdown, no mention (the title as typed is what the store has).
        assert second.embeds[0].title == "#2 Swap <fans\\> @\u200beveryone"
        assert fields(second)["Host"] == "nas" and fields(second)["Status"] == "todo"
        assert str(w.vic.id) in fields(second)["Assignees"]

        # Autocomplete: projects, tasks by number or title, hosts, what is gone.
        assert choices(await w.vic.autocomplete(w.channel, "project show", "project", "nas")) == [
            "NAS upgrade"]  # fmt: skip
        assert choices(await w.olga.autocomplete(w.channel, "task move", "task", "ord")) == [
            "#1 Order disks"]  # fmt: skip
        assert choices(await w.olga.autocomplete(w.channel, "task done", "task", "2")) == [
            "#2 Swap <fans> @everyone"]  # fmt: skip
        assert choices(await w.olga.autocomplete(w.channel, "task add", "host", "n",
                                                 project="NAS upgrade")) == ["nas"]  # fmt: skip
        assert choices(await w.vic.autocomplete(w.channel, "task list", "project", "")) == [
            "NAS upgrade"]  # fmt: skip
        # A viewer typing into an operator's command is offered nothing.
        assert await w.vic.autocomplete(w.channel, "task move", "task", "ord") == []

        # /task edit with nothing to change opens the Edit form, filled in with the task;
        # sent back with one field changed, only that field changes.
        shown = await w.olga.slash(w.channel, "task edit", task=1)
        assert shown.modal is not None
        filled = modal_values(shown)
        assert filled["title"] == "Order disks", filled
        edited = answer(await w.olga.submit_modal(shown, {**filled, "title": "Order 4 disks"}))
        assert edited.embeds[0].title == "#1 Order 4 disks"
        direct = answer(await w.olga.slash(w.channel, "task edit", task=1, priority="high"))
        assert fields(direct)["Priority"] == "high"

        # Viewers list and show; they change nothing.
        listed = answer(await w.vic.slash(w.channel, "task list", project="NAS upgrade"))
        assert listed.embeds[0].title == "2 tasks"
        mine = answer(await w.vic.slash(w.channel, "task list", mine="yes"))
        assert mine.embeds[0].title == "1 task" and "#2" in mine.embeds[0].description
        by_host = answer(await w.vic.slash(w.channel, "task list", host="nas", status="todo"))
        assert by_host.embeds[0].title == "1 task"
        overview = answer(await w.vic.slash(w.channel, "project list"))
        assert "**NAS upgrade**: 2 open, 0 overdue, 0 done" in overview.embeds[0].description
        dash = answer(await w.vic.slash(w.channel, "project show", project="NAS upgrade"))
        assert {a.filename for a in dash.attachments} == {
            "burndown.png", "flow.png", "throughput.png"}  # fmt: skip
        for name, args in (("task move", {"task": 1, "status": "doing"}),
                           ("task done", {"task": 1}), ("task delete", {"task": 1}),
                           ("task assign", {"task": 1, "user": w.vic})):  # fmt: skip
            refused = await w.vic.slash(w.channel, name, **args)
            assert "**operator**" in text_of(refused), (name, text_of(refused))
        assert (await w.service.store.task(1)).status == "backlog"  # type: ignore[union-attr]

        # Operators move, assign, delete and restore tasks; only admins delete projects.
        moved = answer(await w.olga.slash(w.channel, "task move", task=1, status="doing"))
        assert fields(moved)["Status"] == "doing"
        answer(await w.olga.slash(w.channel, "task assign", task=1, user=w.olga))
        answer(await w.olga.slash(w.channel, "task delete", task=2))
        assert choices(await w.olga.autocomplete(w.channel, "task restore", "task", "")) == [
            "#2 Swap <fans> @everyone"]  # fmt: skip
        answer(await w.olga.slash(w.channel, "task restore", task=2))
        assert "**admin**" in text_of(await w.olga.slash(w.channel, "project delete",
                                                         project="NAS upgrade"))  # fmt: skip
        gone = answer(await w.ada.slash(w.channel, "project delete", project="NAS upgrade"))
        assert "deleted" in gone.content
        assert await w.vic.autocomplete(w.channel, "project show", "project", "") == []
        assert choices(await w.ada.autocomplete(w.channel, "project restore", "project", "")) == [
            "NAS upgrade"]  # fmt: skip
        answer(await w.ada.slash(w.channel, "project restore", project="NAS upgrade"))
        assert choices(await w.vic.autocomplete(w.channel, "project show", "project", "")) == [
            "NAS upgrade"]  # fmt: skip

        records = [(r.actor.split()[0], r.action, r.outcome) for r in await w.audit()]
        for who, action, outcome in (
            ("olga", "component project.new", "ok"),
            ("olga", "component task.new", "ok"),
            ("olga", "component task.edit", "ok"),
            ("olga", "task add", "ok"),
            ("olga", "task edit", "ok"),
            ("olga", "task move", "ok"),
            ("olga", "task assign", "ok"),
            ("olga", "task delete", "ok"),
            ("olga", "task restore", "ok"),
            ("olga", "project delete", "refused: needs admin"),
            ("ada", "project delete", "ok"),
            ("ada", "project restore", "ok"),
            ("vic", "project create", "refused: needs operator"),
            ("vic", "task move", "refused: needs operator"),
            ("vic", "task delete", "refused: needs operator"),
        ):
            assert (who, action, outcome) in records, (who, action, outcome, records)
        # A form opened is not itself a change: only its submit is audited as one.
        assert ("olga", "project create", "ok") not in records
        assert not [r for r in records if r[0] == "vic" and r[2] == "ok" and r[1] in (
            "task move", "task done", "task delete", "task assign")]  # fmt: skip


async def test_task_buttons_are_dynamic_items_that_survive_a_restart(tmp_path: Path) -> None:
    """On a task's public message Start, Done, Assign me and Block change the task and redraw
    the message in place; a viewer's click is refused and audited; after a restart (a new
    client and runtime over the same database) the old message's buttons still work; the
    list's pages turn; /task thread opens a thread holding the task."""
    async with project_world(tmp_path) as w:
        await w.rt.core.execute(CONSOLE_ACTOR, "project create", {"name": "lab"})
        for i in range(1, 18):
            await w.rt.core.execute(CONSOLE_ACTOR, "task add", {"project": "lab", "title": f"t{i}"})
        await w.vic.slash(w.channel, "task show", task=1)
        (message,) = public(w.channel)
        assert labels(message) == ["Start", "Done", "Assign me", "Block", "Edit"]
        assert message.components[0].children[0].custom_id == "hl:task.start:1"

        refused = await w.vic.click(message, label="Start")
        assert "**operator**" in text_of(refused)
        assert (await w.service.store.task(1)).status == "backlog"  # type: ignore[union-attr]
        await w.olga.click(message, label="Start")
        (message,) = public(w.channel)
        assert fields(message)["Status"] == "doing"
        start_button = message.components[0].children[0]
        assert start_button.disabled  # already doing

        await w.restart(EXTENSIONS)
        await w.olga.click(message, label="Assign me")
        (message,) = public(w.channel)
        assert str(w.olga.id) in fields(message)["Assignees"]
        await w.olga.click(message, label="Block")
        (message,) = public(w.channel)
        assert fields(message)["Status"] == "blocked"
        await w.olga.click(message, label="Done")
        (message,) = public(w.channel)
        assert fields(message)["Status"] == "done"
        task = await w.service.store.task(1)
        assert task is not None and task.status == "done" and task.assignees == (w.olga.id,)
        assert task.started is not None and task.completed is not None

        records = [(r.actor.split()[0], r.action, r.outcome) for r in await w.audit()]
        assert ("vic", "component task.start", "refused: needs operator") in records
        for route in ("task.start", "task.claim", "task.block", "task.done"):
            assert ("olga", f"component {route}", "ok") in records, (route, records)

        # 17 tasks: two pages of 15; Next turns the page in place.
        await w.vic.slash(w.channel, "task list", project="lab")
        listing = next(m for m in public(w.channel) if m.embeds[0].title == "17 tasks")
        assert listing.embeds[0].footer.text == "page 1 of 2"
        await w.vic.click(listing, label="Next")
        listing = next(m for m in public(w.channel) if m.embeds[0].title == "17 tasks")
        assert listing.embeds[0].footer.text == "page 2 of 2"
        assert listing.embeds[0].description.count("`#") == 2

        # /task thread: a thread named after the task, the task posted in it, remembered.
        await w.olga.slash(w.channel, "task edit", task=2, title="t2 *now*")
        said = await w.olga.slash(w.channel, "task thread", task=2)
        assert "Thread opened" in text_of(said), text_of(said)
        (thread,) = w.channel.threads
        assert thread.name == "#2 t2 *now*"  # plain text: not escaped
        (posted,) = [m for m in thread.history() if m.author.bot]
        assert labels(posted)[0] == "Start"
        assert (await w.service.store.task(2)).thread_id == thread.id  # type: ignore[union-attr]


async def test_create_task_on_an_alert_message_links_a_task_prefilled_from_it(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """A real alert from Alertmanager reaches the channel; an operator's "Create task" makes a
    task in the Alerts project titled from its summary, on its host, linked to it (a viewer is
    refused); a second click finds that task; once Alertmanager resolves the alert the task
    shows it resolved and its log says so."""
    async with alert_world(tmp_path, start_service) as w:
        began = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        body = {**alert("HomelabDiskFull", w.instance), "startsAt": began}
        w.post_alerts([body])
        message = await w.message()
        assert "Create task" in labels(message)
        refused = await w.viewer.click(message, label="Create task")
        assert "operator" in text_of(refused).lower()
        made = answer(await w.operator.click(message, label="Create task"))
        assert "Task #1 created from the alert." in made.content
        title = f"HomelabDiskFull: HomelabDiskFull on {w.instance}"
        assert made.embeds[0].title == f"#1 {title}"
        shown = fields(made)
        assert shown["Host"] == w.instance and shown["Priority"] == "high"
        assert shown["Alert"].endswith("· firing") and shown["Labels"] == "alert"
        assert labels(made) == ["Start", "Done", "Assign me", "Block", "Edit"]
        service = _projects(w.rt)
        (task,) = await service.store.tasks()
        record = await w.rt.outbox.latest(task.alert_fingerprint)
        assert record is not None and task.title == title and task.host == w.instance
        assert (await service.store.projects())[0].name == "Alerts"

        again = answer(await w.operator.click(message, label="Create task"))
        assert "Task #1 already tracks this alert." in again.content
        assert len(await service.store.tasks()) == 1

        # Prometheus resolves it as it does (same startsAt, endsAt passed); Alertmanager tells
        # the bot, the message turns RESOLVED, and the task notes the new state.
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        w.post_alerts([{**body, "endsAt": past}])
        await until(
            "the resolved edit",
            lambda: "RESOLVED" in (bot_messages(w.channel)[0].embeds[0].title or ""),
        )
        assert len(bot_messages(w.channel)) == 1
        assert await service.sync_alerts() == 1
        shown = fields(answer(await w.viewer.slash(w.channel, "task show", task=1)))
        assert shown["Alert"].endswith("· resolved ✅"), shown
        noted = [e for e in await service.store.events() if e.action == "alert"]
        assert [(e.before, e.after) for e in noted] == [
            ({"alert_state": "firing"}, {"alert_state": "resolved"})]  # fmt: skip


# The reminders' test leaves out the dashboards' 5-second loop: days of simulated time pass.
NO_DASHBOARDS = tuple(e for e in EXTENSIONS if not e.endswith(".dashboards"))


def dms(member: Any) -> list[Any]:
    """The bot's messages in `member`'s DMs."""
    return [m for m in member.user.dm_channel.history() if m.author.bot]


async def test_reminders_and_the_digest_on_simcords_clock_across_restarts(
    tmp_path: Path,
) -> None:
    """Simulated days in simcord: the assignee of a task due tomorrow gets one DM 24 h before
    it is due, and none again after a restart; once it is overdue the digest channel gets one
    digest at 09:00, none again that day (another restart in between), and the next at
    09:00 the day after."""
    async with project_world(tmp_path, NO_DASHBOARDS) as w:
        start = w.env.now()  # simcord's clock: 2026-01-01 00:00 UTC
        await w.olga.slash(w.channel, "project create", name="lab")
        await w.olga.slash(w.channel, "task add", project="lab", title="soon", due="tomorrow",
                           assignee=w.vic)  # fmt: skip
        await w.olga.slash(w.channel, "task add", project="lab", title="later", due="+5d",
                           assignee=w.olga)  # fmt: skip
        soon = await w.service.store.task(1)
        assert soon is not None and soon.due == start.timestamp() + 2 * DAY - 1  # 01-02 23:59:59

        await w.env.advance_time(23 * 3600)  # 01-01 23:00: due in 25 h, too early
        assert dms(w.vic) == []
        await w.env.advance_time(3600 + 600)  # a round of the loop after 24 h before
        (reminder,) = dms(w.vic)
        assert "Reminder: task #1 is due" in reminder.content
        assert reminder.embeds[0].title == "#1 soon"
        assert dms(w.olga) == []  # hers is due in four days

        await w.restart(NO_DASHBOARDS)  # the loop runs at once on start: nothing again
        await w.env.advance_time(3 * 3600)
        assert len(dms(w.vic)) == 1

        # 01-03 09:00: task 1 is overdue (since 01-02 23:59:59), the digest is due.
        until_nine = start.timestamp() + 2 * DAY + 9 * 3600 - w.env.now().timestamp()
        await w.env.advance_time(until_nine - 600)
        assert public(w.digest) == []
        await w.env.advance_time(1200)
        (digest,) = public(w.digest)
        assert digest.embeds[0].title == "1 overdue task"
        assert "#1" in digest.embeds[0].description and "lab" in digest.embeds[0].description
        await w.restart(NO_DASHBOARDS)
        await w.env.advance_time(6 * 3600)
        assert len(public(w.digest)) == 1
        await w.env.advance_time(DAY - 6 * 3600)  # 01-04 09:10: the next day's digest
        assert len(public(w.digest)) == 2
        assert len(dms(w.vic)) == 1  # never reminded twice


class DayClock:
    """The projects feature's clock in the done-when test: the test turns the days (simcord's
    own clock drives the dashboards' ticks, seconds apart)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def edits(env: Any, message: Any) -> int:
    """How many times the bot edited `message`."""
    path = f"/channels/{message.channel.id}/messages/{message.id}"
    return sum(1 for r in env.http_requests if r.method == "PATCH" and r.path == path)


def expected_counts(timeline: dict[int, list[tuple[float, str]]], t: float) -> dict[str, int]:
    """Tasks per status at `t` from the test's own record of what it did."""
    counts = dict.fromkeys(STATUSES, 0)
    for steps in timeline.values():
        now = [status for at, status in steps if at <= t]
        if now:
            counts[now[-1]] += 1
    return counts


async def test_done_when_a_dozen_tasks_over_simulated_days_burn_down_live_and_on_console(
    tmp_path: Path,
) -> None:
    """The issue's done-when: a project with twelve tasks, moved through their states over
    ten simulated days with the task buttons and commands, keeps a live dashboard in simcord
    edited after each day's changes; at the end its counts, burndown (remaining against the
    ideal line to the due date) and cumulative flow are what the test's own record of the
    moves says, the dashboard's PNGs are those charts drawn, and the console's `project show`
    prints the same counts and writes the same PNGs."""
    async with project_world(tmp_path) as w:
        clock = DayClock(w.env.now().timestamp() + 9 * 3600)
        w.service.clock = clock
        created = clock.now
        await w.olga.slash(w.channel, "project create", name="NAS upgrade", due="+14d")
        timeline: dict[int, list[tuple[float, str]]] = {}
        for i in range(1, 13):
            who = {"assignee": w.olga} if i % 3 == 0 else {}  # assigned: straight to todo
            added = answer(await w.olga.slash(w.channel, "task add", project="NAS upgrade",
                                              title=f"step {i}", **who))  # fmt: skip
            timeline[i] = [(clock.now, fields(added)["Status"])]
        made = await w.olga.slash(w.channel, "dashboard create", type="project",
                                  target="NAS upgrade")  # fmt: skip
        assert "is live" in text_of(made), text_of(made)
        (dashboard,) = [m for m in public(w.channel) if "Project NAS upgrade" in
                        (m.embeds[0].title or "")]  # fmt: skip
        dashboards = w.rt.core.feature(DashboardService)
        assert dashboards is not None

        async def task_message(n: int) -> Any:
            await w.olga.slash(w.channel, "task show", task=n)
            return next(m for m in reversed(public(w.channel))
                        if m.embeds and m.embeds[0].title == f"#{n} step {n}")  # fmt: skip

        def record(n: int, status: str) -> None:
            timeline[n].append((clock.now, status))

        for day in range(1, 11):
            clock.now += DAY
            await w.olga.click(await task_message(day), label="Start")
            record(day, "doing")
            if day > 1:
                await w.olga.click(await task_message(day - 1), label="Done")
                record(day - 1, "done")
            if day == 3:
                await w.olga.click(await task_message(12), label="Block")
                record(12, "blocked")
            if day == 6:
                await w.olga.slash(w.channel, "task move", task=12, status="todo")
                record(12, "todo")
            if day == 8:  # reopened: done again the next day
                await w.olga.slash(w.channel, "task move", task=6, status="doing")
                record(6, "doing")
            if day == 9:
                await w.olga.slash(w.channel, "task done", task=6)
                record(6, "done")
            before = edits(w.env, dashboard)
            await w.env.advance_time(6)  # the next tick redraws the changed project
            assert edits(w.env, dashboard) == before + 1, f"day {day}: not redrawn once"
            (dashboard,) = [m for m in public(w.channel) if m.id == dashboard.id]

        # The counts on the live dashboard.
        now = clock.now
        final = expected_counts(timeline, now)
        assert final == {"backlog": 1, "todo": 1, "doing": 1, "blocked": 0, "done": 9}
        assert {k: int(v) for k, v in fields(dashboard).items() if k in STATUSES} == final

        # The charts from the log, against the test's own record at every sample.
        data = await w.service.project_data("NAS upgrade")
        assert data is not None and data.now == now
        charts = dashboard_charts(data)
        remaining, ideal = charts[BURNDOWN_PNG].series
        for t, v in remaining.points:
            c = expected_counts(timeline, t)
            assert v == sum(c.values()) - c["done"], (t, v, c)
        assert [v for _, v in remaining.points][-1] == 3
        assert max(v for _, v in remaining.points) == 12
        project = (await w.service.store.projects())[0]
        assert project.due is not None and project.due > created
        (t0, top), (t1, bottom) = ideal.points[0], ideal.points[-1]
        assert top == 12 and bottom == 0 and t1 == project.due and created <= t0 < created + DAY
        assert [v for _, v in ideal.points] == sorted((v for _, v in ideal.points), reverse=True)
        flow = {s.name: s.points for s in charts[FLOW_PNG].series}
        assert list(flow) == ["done", "blocked", "doing", "todo", "backlog"]
        for i, (t, _) in enumerate(flow["done"]):
            assert {s: flow[s][i][1] for s in STATUSES} == expected_counts(timeline, t), t
        assert [v for _, v in flow["blocked"]].count(1.0) == 3  # days 3, 4 and 5

        # The live dashboard's images are these charts drawn; the console writes the same.
        pngs = {a.filename: await a.read() for a in dashboard.attachments}
        assert set(pngs) == {"burndown.png", "flow.png", "throughput.png"}
        for name in (BURNDOWN_PNG, FLOW_PNG):
            assert pngs[name] == render_chart(charts[name]), name
        out = io.StringIO()
        console = Console(w.rt.core, tmp_path / "console", out=out)
        shown = await console.run("project show", {"project": "NAS upgrade"})
        assert validate(shown) == [] and shown.outcome == "ok"
        printed = out.getvalue()
        for status, n in final.items():
            assert f"{status}: {n}" in printed, printed
        for name in (BURNDOWN_PNG, FLOW_PNG):
            assert (tmp_path / "console" / name).read_bytes() == pngs[name]
            assert f"[image: {tmp_path / 'console' / name}]" in printed
