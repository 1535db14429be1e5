"""The projects feature: /project and /task, the task buttons, the "Create task" button on
alert messages, due-date reminders and the daily overdue digest (docs/projects.md).

Every change goes through a domain function that returns the new value and its event; the
store writes both in one transaction, so the log always explains the state.

Example::

    projects = ProjectService(SqliteProjectStore(db), renderer, timezone="Europe/Berlin")
    await core.execute(CONSOLE_ACTOR, "project create", {"name": "NAS upgrade"})
    await core.execute(CONSOLE_ACTOR, "task add", {"project": "NAS upgrade", "title": "Fans"})
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.alerts.model import alert_from_json
from bot.domain.charts import Chart
from bot.domain.messages import Embed, Message
from bot.domain.permissions import Actor
from bot.domain.projects import model
from bot.domain.projects.dashboard import (
    PROJECTS_REPORT_CHART,
    ProjectData,
    dashboard_charts,
    project_dashboard,
    projects_report_view,
    report_chart,
    week_figures,
)
from bot.domain.projects.dates import DueDateError, parse_due
from bot.domain.projects.model import Event, Project, ProjectError, Task
from bot.domain.projects.series import WEEK
from bot.domain.projects.views import TaskFilter, project_list, task_line, task_list, task_message
from bot.domain.reports.model import ChartImage, Period
from bot.domain.reports.sections import ExtraSection
from bot.domain.text import escape
from bot.services.feature import CommandHandler, ComponentHandler, FormDefaults

log = logging.getLogger(__name__)

REMINDER_SECONDS = 24 * 3600.0
DIGEST_LINES = 30


class ProjectStore(Protocol):
    """Where projects, tasks, their log and the sent notices live (SqliteProjectStore)."""

    async def create(self, kind: str, build: Callable[[int], Any]) -> Any: ...
    async def save(self, obj: Project | Task, event: Event | None) -> None: ...
    async def projects(self) -> list[Project]: ...
    async def tasks(self, project_id: int = 0) -> list[Task]: ...
    async def task(self, task_id: int) -> Task | None: ...
    async def events(self) -> list[Event]: ...
    async def claim(self, key: str, at: float) -> bool: ...


class ObservedStore:
    """A ProjectStore that tells its listeners after every change (the live project
    dashboards refresh at the next tick); a failing listener is logged, never raised."""

    def __init__(self, store: ProjectStore) -> None:
        self.store = store
        self.listeners: list[Callable[[], object]] = []

    def _changed(self) -> None:
        for listener in self.listeners:
            try:
                listener()
            except Exception:
                log.exception("a project listener failed")

    async def create(self, kind: str, build: Callable[[int], Any]) -> Any:
        """Create, then tell."""
        made = await self.store.create(kind, build)
        self._changed()
        return made

    async def save(self, obj: Project | Task, event: Event | None) -> None:
        """Save, then tell."""
        await self.store.save(obj, event)
        self._changed()

    async def projects(self) -> list[Project]:
        """The store's projects."""
        return await self.store.projects()

    async def tasks(self, project_id: int = 0) -> list[Task]:
        """The store's tasks."""
        return await self.store.tasks(project_id)

    async def task(self, task_id: int) -> Task | None:
        """One task."""
        return await self.store.task(task_id)

    async def events(self) -> list[Event]:
        """The event log."""
        return await self.store.events()

    async def claim(self, key: str, at: float) -> bool:
        """Claim a notice."""
        return await self.store.claim(key, at)


class Renderer(Protocol):
    """The one chart renderer (ChartPool)."""

    async def chart(self, chart: Chart) -> bytes: ...


class AlertLookup(Protocol):
    """The alerts the bot stored (SqliteOutbox): the latest episode of a fingerprint."""

    async def latest(self, fingerprint: str) -> Any: ...


NOTICE_SECONDS = 600  # how often a face runs `notices`: reminders are due 24 h ahead


class Notifier(Protocol):
    """Where reminders and digests go: a user's DMs, a channel."""

    async def to_user(self, user_id: int, msg: Message) -> None: ...
    async def to_channel(self, channel_id: int, msg: Message) -> None: ...


def _who(actor: Actor) -> str:
    return actor.name if actor.user_id == 0 else f"{actor.name} ({actor.user_id})"


def _refused(exc: ProjectError) -> Message:
    return Message(text=str(exc), ephemeral=True, outcome="usage")


def _not_found(what: str) -> Message:
    return Message(
        text=f"{what} See /project list and /task list.", ephemeral=True, outcome="not_found"
    )


class ProjectService:
    """Handlers of the projects part of the catalogue, and the reminder jobs."""

    def __init__(
        self,
        store: ProjectStore,
        renderer: Renderer | None = None,
        *,
        alerts: AlertLookup | None = None,
        timezone: str = "UTC",
        digest_channel_id: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.alerts = alerts
        self.tz = ZoneInfo(timezone)
        self.digest_channel_id = digest_channel_id
        self.clock = clock

    def commands(self) -> Mapping[str, CommandHandler]:
        """Catalogue command name -> handler."""
        return {
            "project create": self.project_create,
            "project list": self.project_list,
            "project show": self.project_show,
            "project archive": self.project_archive,
            "project delete": self.project_delete,
            "project restore": self.project_restore,
            "task add": self.task_add,
            "task edit": self.task_edit,
            "task move": self.task_move,
            "task assign": self.task_assign,
            "task done": self.task_done,
            "task show": self.task_show,
            "task list": self.task_list,
            "task delete": self.task_delete,
            "task restore": self.task_restore,
            "task thread": self.task_thread,
        }

    def components(self) -> Mapping[str, ComponentHandler]:
        """Catalogue component route -> handler."""
        return {
            "task.start": self._status_click("doing"),
            "task.done": self._status_click("done"),
            "task.block": self._status_click("blocked"),
            "task.claim": self._claim,
            "task.edit": self._edit_form,
            "task.new": self._new_form,
            "project.new": self._new_project_form,
            "task.page": self._page,
            "task.from_alert": self._from_alert,
        }

    def form_defaults(self) -> Mapping[str, FormDefaults]:
        """The task edit form opens filled in with the task as it stands."""
        return {"task.edit": self._edit_defaults}

    async def _edit_defaults(self, arg: str) -> Mapping[str, str]:
        task = await self.store.task(int(arg)) if arg.isdigit() else None
        if task is None:
            return {}
        return {"title": task.title, "description": task.description,
                "due": self._due_text(task.due), "labels": ", ".join(task.labels)}  # fmt: skip

    def _due_text(self, due: float | None) -> str:
        """A due time as the form shows it: its day in the guild's zone (parsed back alike)."""
        return "" if due is None else datetime.fromtimestamp(due, self.tz).date().isoformat()

    # -- lookups (autocomplete too) ------------------------------------------------------

    async def project_names(self, typed: str = "", *, gone: bool = False) -> list[str]:
        """Names of projects not deleted containing `typed`, for autocomplete; with `gone`,
        the deleted and archived ones (what /project restore can bring back)."""
        t = typed.casefold()
        return sorted(
            p.name
            for p in await self.store.projects()
            if ((p.deleted or p.archived) if gone else not p.deleted) and t in p.name.casefold()
        )

    async def project_id(self, name: str) -> int | None:
        """The id of the live project `name` (the New task form carries it)."""
        found = await self._project(name)
        return found.id if found is not None else None

    async def task_choices(self, typed: str = "", *, gone: bool = False) -> list[tuple[str, int]]:
        """(`#id title`, id) of live tasks whose number or title contains `typed`; with
        `gone`, of deleted ones (for /task restore)."""
        t = typed.casefold().lstrip("#")
        return [
            (f"#{k.id} {k.title}", k.id)
            for k in await self.store.tasks()
            if k.deleted == gone and (t in str(k.id) or t in k.title.casefold())
        ]

    async def assignee_ids(self) -> list[int]:
        """Everyone assigned to some live task, for autocomplete."""
        return sorted({u for k in await self.store.tasks() if not k.deleted for u in k.assignees})

    async def host_names(self, typed: str = "") -> list[str]:
        """Hosts named on tasks, for autocomplete."""
        t = typed.casefold()
        return sorted(
            {k.host for k in await self.store.tasks() if k.host and t in k.host.casefold()}
        )

    async def _project(self, name: str, *, deleted: bool = False) -> Project | None:
        wanted = name.strip().casefold()
        found = [
            p
            for p in await self.store.projects()
            if p.name.casefold() == wanted and (deleted or not p.deleted)
        ]
        return found[-1] if found else None

    async def _task(self, task_id: int) -> Task | None:
        return await self.store.task(task_id)

    def _due(self, text: str | None) -> float | None:
        if not text or text.strip().lower() == "none":
            return None
        now = datetime.fromtimestamp(self.clock(), self.tz)
        return parse_due(text, now).timestamp()

    async def _project_name(self, project_id: int) -> str:
        for p in await self.store.projects():
            if p.id == project_id:
                return p.name
        return "?"

    async def _show(self, task: Task, note: str = "") -> Message:
        task = await self._alert_state(task)
        return task_message(
            task, escape(await self._project_name(task.project_id)), self.clock(), note
        )

    # -- projects --------------------------------------------------------------------------

    async def project_create(
        self,
        actor: Actor,
        name: str | None = None,
        description: str | None = None,
        due: str | None = None,
    ) -> Message:
        """A new project (names are unique among live projects)."""
        name = name or ""
        try:
            if await self._project(name) is not None:
                raise ProjectError(
                    f"There is a project {name.strip()!r} already; pick another name."
                )
            due_at = self._due(due)
            project = await self.store.create(
                "project",
                lambda pid: model.new_project(
                    pid,
                    name,
                    description=description or "",
                    owner=actor.user_id,
                    due=due_at,
                    actor=_who(actor),
                    at=self.clock(),
                ),
            )
        except ProjectError as exc:
            return _refused(exc)
        return Message(
            text=f"Project **{escape(project.name)}** created; add tasks with "
            "/task add or its New task button."
        )

    async def project_list(self, actor: Actor, archived: str = "no") -> Message:
        """Every live project with its counts."""
        projects = [
            p
            for p in await self.store.projects()
            if not p.deleted and (archived == "yes" or not p.archived)
        ]
        return project_list(projects, await self.store.tasks(), self.clock())

    async def dashboard_data(self, project: Project) -> ProjectData:
        """The project's dashboard data, with its charts rendered when there is a renderer."""
        data = ProjectData(
            project, await self.store.tasks(project.id), await self.store.events(), self.clock()
        )
        if self.renderer is None:
            return data
        images = {name: await self.renderer.chart(c) for name, c in dashboard_charts(data).items()}
        return replace(data, images=images)

    async def project_data(self, name: str) -> ProjectData | None:
        """The project dashboard's data, charts not rendered (the dashboards feature renders
        them); None when there is no such project."""
        found = await self._project(name)
        if found is None:
            return None
        return ProjectData(
            found, await self.store.tasks(found.id), await self.store.events(), self.clock()
        )

    async def project_show(self, actor: Actor, project: str) -> Message:
        """The project's dashboard."""
        found = await self._project(project)
        if found is None:
            return _not_found(f"There is no project {project!r}.")
        return project_dashboard({"project": found.name}, await self.dashboard_data(found))

    async def _project_flag(self, actor: Actor, name: str, action: str, **changes: Any) -> Message:
        found = await self._project(name, deleted=action == "restore")
        if found is None:
            return _not_found(f"There is no project {name!r}.")
        new, event = model.edit_project(
            found, actor=_who(actor), at=self.clock(), action=action, **changes
        )
        await self.store.save(new, event)
        verb = {"archive": "archived", "delete": "deleted", "restore": "restored"}[action]
        return Message(text=f"Project **{escape(new.name)}** {verb}.")

    async def project_archive(self, actor: Actor, project: str) -> Message:
        """Archive a project: hidden from lists and reports, its tasks kept."""
        return await self._project_flag(actor, project, "archive", archived=True)

    async def project_delete(self, actor: Actor, project: str) -> Message:
        """Soft-delete a project."""
        return await self._project_flag(actor, project, "delete", deleted=True)

    async def project_restore(self, actor: Actor, project: str) -> Message:
        """Bring a deleted or archived project back."""
        if await self._project(project) is not None:
            return await self._project_flag(actor, project, "restore", archived=False)
        return await self._project_flag(actor, project, "restore", deleted=False, archived=False)

    # -- tasks -----------------------------------------------------------------------------

    async def add(
        self,
        actor: Actor,
        project: Project,
        title: str,
        *,
        description: str = "",
        due: str | None = None,
        priority: str = "normal",
        labels: str | None = None,
        host: str | None = None,
        assignee: int | None = None,
        alert_fingerprint: str = "",
        alert_state: str = "",
    ) -> Task:
        """A new task in `project` (ProjectError when something is wrong)."""
        if project.archived:
            raise ProjectError(f"Project {project.name!r} is archived; restore it first.")
        due_at = self._due(due)
        task: Task = await self.store.create(
            "task",
            lambda tid: model.new_task(
                tid,
                project.id,
                title,
                description=description,
                priority=priority,
                status="todo" if assignee else "backlog",
                labels=_labels(labels),
                assignees=(assignee,) if assignee else (),
                due=due_at,
                host=host or "",
                alert_fingerprint=alert_fingerprint,
                alert_state=alert_state,
                actor=_who(actor),
                at=self.clock(),
            ),
        )
        return task

    async def task_add(
        self,
        actor: Actor,
        project: str,
        title: str | None = None,
        description: str | None = None,
        due: str | None = None,
        priority: str = "normal",
        labels: str | None = None,
        host: str | None = None,
        assignee: int | None = None,
    ) -> Message:
        """Add a task; it answers with the task and its buttons."""
        title = title or ""
        found = await self._project(project)
        if found is None:
            return _not_found(f"There is no project {project!r}.")
        try:
            task = await self.add(
                actor,
                found,
                title,
                description=description or "",
                due=due,
                priority=priority,
                labels=labels,
                host=host,
                assignee=assignee,
            )
        except ProjectError as exc:
            return _refused(exc)
        return await self._show(task, f"Task #{task.id} added.")

    async def _change(
        self,
        actor: Actor,
        task_id: int,
        fn: Callable[[Task], tuple[Task, Event | None]],
        note: str = "",
    ) -> Message:
        task = await self._task(task_id)
        if task is None:
            return _not_found(f"There is no task #{task_id}.")
        try:
            new, event = fn(task)
        except ProjectError as exc:
            return _refused(exc)
        await self.store.save(new, event)
        return await self._show(new, note if event is not None else "Nothing changed.")

    async def task_edit(
        self,
        actor: Actor,
        task: int,
        title: str | None = None,
        description: str | None = None,
        due: str | None = None,
        priority: str | None = None,
        labels: str | None = None,
        host: str | None = None,
    ) -> Message:
        """Change the fields given; `none` clears a due day, labels or host."""
        changes: dict[str, Any] = {}
        try:
            if title:
                changes["title"] = title
            if description:
                changes["description"] = description
            if due:
                changes["due"] = self._due(due)
            if priority:
                changes["priority"] = priority
            if labels:
                changes["labels"] = () if labels.strip().lower() == "none" else _labels(labels)
            if host:
                changes["host"] = "" if host.strip().lower() == "none" else host.strip()
        except ProjectError as exc:
            return _refused(exc)
        who, at = _who(actor), self.clock()
        return await self._change(
            actor, task, lambda t: model.edit_task(t, actor=who, at=at, **changes), "Task edited."
        )

    async def task_move(self, actor: Actor, task: int, status: str) -> Message:
        """Move a task to a column."""
        who, at = _who(actor), self.clock()
        return await self._change(
            actor,
            task,
            lambda t: model.move(t, status, actor=who, at=at),
            f"Task #{task} is now {status}.",
        )

    async def task_done(self, actor: Actor, task: int) -> Message:
        """Mark a task done."""
        return await self.task_move(actor, task, "done")

    async def task_assign(self, actor: Actor, task: int, user: int) -> Message:
        """Assign `user` (again: take them off)."""
        found = await self._task(task)
        remove = found is not None and user in found.assignees
        who, at = _who(actor), self.clock()
        return await self._change(
            actor,
            task,
            lambda t: model.assign(t, user, actor=who, at=at, remove=remove),
            f"<@{user}> {'taken off' if remove else 'assigned to'} task #{task}.",
        )

    async def task_show(self, actor: Actor, task: int) -> Message:
        """One task with its buttons."""
        found = await self._task(task)
        if found is None:
            return _not_found(f"There is no task #{task}.")
        return await self._show(found)

    async def task_list(
        self,
        actor: Actor,
        project: str | None = None,
        status: str | None = None,
        label: str | None = None,
        host: str | None = None,
        mine: str = "no",
        overdue: str = "no",
        page: int = 1,
    ) -> Message:
        """Tasks matching the filters, one page at a time."""
        pid = 0
        if project:
            found = await self._project(project)
            if found is None:
                return _not_found(f"There is no project {project!r}.")
            pid = found.id
        flt = TaskFilter(
            page,
            pid,
            status or "",
            label or "",
            host or "",
            actor.user_id if mine == "yes" else 0,
            overdue == "yes",
        )
        return await self._list(flt)

    async def _list(self, flt: TaskFilter) -> Message:
        projects = {p.id: p for p in await self.store.projects()}
        live = [
            t
            for t in await self.store.tasks()
            if t.project_id in projects and not projects[t.project_id].deleted
        ]
        return task_list(live, flt, self.clock(), projects)

    async def task_delete(self, actor: Actor, task: int) -> Message:
        """Soft-delete a task."""
        who, at = _who(actor), self.clock()
        return await self._change(
            actor,
            task,
            lambda t: model.set_deleted(t, True, actor=who, at=at),
            f"Task #{task} deleted; /task restore {task} brings it back.",
        )

    async def task_restore(self, actor: Actor, task: int) -> Message:
        """Bring a deleted task back."""
        who, at = _who(actor), self.clock()
        return await self._change(
            actor,
            task,
            lambda t: model.set_deleted(t, False, actor=who, at=at),
            f"Task #{task} restored.",
        )

    async def task_thread(self, actor: Actor, task: int) -> Message:
        """The face opens the thread; this answers with the task to post in it."""
        found = await self._task(task)
        if found is None:
            return _not_found(f"There is no task #{task}.")
        return await self._show(found, f"Discussion of task #{task}.")

    async def set_thread(self, task_id: int, thread_id: int, actor: Actor) -> None:
        """Remember the thread the face opened for a task."""
        task = await self._task(task_id)
        if task is not None:
            new, event = model.edit_task(
                task, actor=_who(actor), at=self.clock(), action="thread", thread_id=thread_id
            )
            await self.store.save(new, event)

    # -- clicks ------------------------------------------------------------------------------

    def _status_click(self, status: str) -> ComponentHandler:
        async def click(actor: Actor, arg: str, values: list[str], form: dict[str, Any]) -> Message:
            if not arg.isdigit():
                return Message(text="This button is not valid.", ephemeral=True, outcome="usage")
            return await self.task_move(actor, int(arg), status)

        return click

    async def _claim(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """Assign me: the clicking user joins the assignees (never taken off by a click)."""
        if not arg.isdigit():
            return Message(text="This button is not valid.", ephemeral=True, outcome="usage")
        who, at = _who(actor), self.clock()
        return await self._change(
            actor,
            int(arg),
            lambda t: model.assign(t, actor.user_id, actor=who, at=at),
            f"<@{actor.user_id}> took task #{arg}.",
        )

    async def _edit_form(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        if not arg.isdigit():
            return Message(text="This button is not valid.", ephemeral=True, outcome="usage")
        # The form opened filled in: a field sent back as it stood is no change (an overdue
        # task's due day, sent back, would otherwise be refused as a day in the past).
        before = await self._edit_defaults(arg)
        kept = {k: v for k, v in form.items() if v is not None and v != before.get(k)}
        return await self.task_edit(
            actor,
            int(arg),
            title=kept.get("title"),
            description=kept.get("description"),
            due=kept.get("due"),
            labels=kept.get("labels"),
        )

    async def _new_form(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        project = next(
            (p for p in await self.store.projects() if str(p.id) == arg and not p.deleted), None
        )
        if project is None:
            return _not_found("That project is gone.")
        return await self.task_add(
            actor,
            project.name,
            form.get("title") or "",
            form.get("description"),
            form.get("due"),
            labels=form.get("labels"),
        )

    async def _new_project_form(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        return await self.project_create(
            actor, form.get("name") or "", form.get("description"), form.get("due")
        )

    async def _page(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        flt = TaskFilter.decode(arg)
        if flt is None:
            return Message(text="This button is not valid.", ephemeral=True, outcome="usage")
        return await self._list(flt)

    # -- alerts ----------------------------------------------------------------------------

    async def _from_alert(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """A task linked to the alert and its host, in the project 'Alerts' (made if needed)."""
        record = await self.alerts.latest(arg) if self.alerts is not None else None
        if record is None:
            return _not_found("The bot has no record of this alert any more.")
        existing = [t for t in await self.store.tasks() if t.alert_fingerprint == arg and t.is_open]
        if existing:
            return await self._show(
                existing[0], f"Task #{existing[0].id} already tracks this alert."
            )
        alert = alert_from_json(record.alert)
        summary = alert.annotations.get("summary") or alert.name or "alert"
        project = await self._project(ALERTS_PROJECT)
        try:
            if project is None:
                project = await self.store.create(
                    "project",
                    lambda pid: model.new_project(
                        pid,
                        ALERTS_PROJECT,
                        description="Tasks made from alert messages.",
                        actor=_who(actor),
                        at=self.clock(),
                    ),
                )
            task = await self.add(
                actor,
                project,
                f"{alert.name}: {summary}"[: model.TITLE_MAX],
                description=alert.annotations.get("description", "")[:1000],
                host=alert.host[: model.NAME_MAX],
                priority="high",
                labels="alert",
                alert_fingerprint=arg,
                alert_state=record.status,
            )
        except ProjectError as exc:
            return _refused(exc)
        return await self._show(task, f"Task #{task.id} created from the alert.")

    async def _alert_state(self, task: Task) -> Task:
        """The task with its alert's current state; a change is noted in the log."""
        if not task.alert_fingerprint or self.alerts is None:
            return task
        record = await self.alerts.latest(task.alert_fingerprint)
        state = record.status if record is not None else task.alert_state
        if state == task.alert_state:
            return task
        new, event = model.edit_task(
            task, actor="alertmanager", at=self.clock(), action="alert", alert_state=state
        )
        await self.store.save(new, event)
        return new

    async def sync_alerts(self) -> int:
        """Note every linked alert's state change on its task; how many changed."""
        changed = 0
        for task in await self.store.tasks():
            if task.alert_fingerprint and not task.deleted:
                changed += (await self._alert_state(task)).alert_state != task.alert_state
        return changed

    # -- reminders and digest ----------------------------------------------------------------

    async def send_reminders(self, notifier: Notifier) -> int:
        """Remind each assignee of every open task due within 24 h, once per task and due
        time (the claim is written before the send, so a restart never sends twice)."""
        now = self.clock()
        sent = 0
        live = await self._live_projects()
        for task in await self.store.tasks():
            if task.project_id not in live:
                continue  # an archived or deleted project's tasks rest
            if not task.is_open or task.due is None or not task.assignees:
                continue
            if not now <= task.due <= now + REMINDER_SECONDS:
                continue
            name = escape(await self._project_name(task.project_id))
            msg = task_message(
                task, name, now, f"Reminder: task #{task.id} is due <t:{int(task.due)}:R>."
            )
            for user in task.assignees:
                if await self.store.claim(f"remind:{task.id}:{int(task.due)}:{user}", now):
                    try:
                        await notifier.to_user(user, msg)
                        sent += 1
                    except Exception as exc:  # a closed DM: logged, not retried
                        log.warning("reminder of task %d to %d failed: %s", task.id, user, exc)
        return sent

    async def notices(self, notifier: Notifier, digest_hour: int) -> None:
        """One round of the face's notice loop: linked alerts' states, the reminders due, and
        today's digest once its hour has passed (each sent once: claimed in the database)."""
        await self.sync_alerts()
        await self.send_reminders(notifier)
        if self.digest_due(digest_hour):
            await self.send_digest(notifier)

    async def _live_projects(self) -> dict[int, Project]:
        """Projects neither archived nor deleted: the ones reminded of and in the digest."""
        return {p.id: p for p in await self.store.projects() if not (p.deleted or p.archived)}

    def _today(self) -> str:
        return datetime.fromtimestamp(self.clock(), self.tz).date().isoformat()

    def digest_due(self, hour: int) -> bool:
        """Whether today's digest time (in the guild's zone) has passed: a start-up after it
        sends a missed digest (the claim keeps it to one a day)."""
        return datetime.fromtimestamp(self.clock(), self.tz).hour >= hour

    async def send_digest(self, notifier: Notifier) -> bool:
        """Post today's overdue digest once (claimed per day in the guild's time zone): the
        overdue tasks of the projects neither archived nor deleted."""
        if not self.digest_channel_id:
            return False
        now = self.clock()
        projects = await self._live_projects()
        late = sorted(
            (t for t in await self.store.tasks() if t.project_id in projects and t.overdue(now)),
            key=lambda t: t.due or 0,
        )
        if not late or not await self.store.claim(f"digest:{self._today()}", now):
            return False
        lines = [
            task_line(t, now) + f" · {escape(projects[t.project_id].name)}"
            for t in late[:DIGEST_LINES]
        ]
        if len(late) > DIGEST_LINES:
            lines.append(f"… and {len(late) - DIGEST_LINES} more: /task list overdue:yes")
        await notifier.to_channel(
            self.digest_channel_id,
            Message(
                embeds=(
                    Embed(
                        title=f"{len(late)} overdue task{'s' if len(late) != 1 else ''}",
                        description="\n".join(lines),
                    ),
                )
            ),
        )
        return True

    async def report_extra(self, period: Period, host: str = "") -> ExtraSection | None:
        """The weekly report's projects section (ReportService's `extra` source): done,
        opened and overdue per live project over the report's period, and the weekly
        throughput chart of the eight weeks before its end. None for daily reports and when no
        project is live (the section is then left out)."""
        if period.kind != "weekly":
            return None
        start, end = period.start.timestamp(), period.end.timestamp()
        projects, tasks, events = (
            await self.store.projects(),
            await self.store.tasks(),
            await self.store.events(),
        )
        figures = week_figures(projects, tasks, events, start, end)
        if not figures:
            return None
        charts: tuple[ChartImage, ...] = ()
        if self.renderer is not None:
            chart = report_chart(projects, events, end - 8 * WEEK, end)
            png = await self.renderer.chart(chart)
            charts = (ChartImage(PROJECTS_REPORT_CHART, chart.title, png, section="projects"),)
        view = projects_report_view(figures, PROJECTS_REPORT_CHART if charts else None)
        return ExtraSection(view, charts)


ALERTS_PROJECT = "Alerts"


def _labels(text: str | None) -> tuple[str, ...]:
    return model.clean_labels((text or "").split(",")) if text else ()


__all__ = ["ALERTS_PROJECT", "DueDateError", "Notifier", "ProjectService", "ProjectStore"]
