"""Projects, tasks, and the append-only event log every change goes through.

Every change is a domain function that returns the new value and the `Event` recording it
(who, what, the changed fields before and after, when); `replay` folds the log back into the
current state, which is what the charts are computed from.

Example::

    task, event = new_task(1, 7, "Swap the NAS fans", actor="ann", at=1796302800.0)
    task, moved = move(task, "doing", actor="ann", at=1796306400.0)
    replay([event, moved]).tasks[1] == task     # True
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("backlog", "todo", "doing", "blocked", "done")
OPEN_STATUSES = frozenset(STATUSES) - {"done"}
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
PROJECT_STATUSES: tuple[str, ...] = ("active", "on_hold", "finished")

NAME_MAX = 80
TITLE_MAX = 200
DESCRIPTION_MAX = 2000
LABEL_MAX = 30
MAX_LABELS = 10
MAX_ASSIGNEES = 10


class ProjectError(ValueError):
    """A project or task change is refused; `str()` is a sentence saying what to do instead."""


def clean_text(text: str, what: str, most: int, *, required: bool = True) -> str:
    """`text` stripped and checked: not empty (when required), at most `most` characters,
    no control characters (a newline is allowed in descriptions only, `most` > TITLE_MAX)."""
    text = text.strip()
    if required and not text:
        raise ProjectError(f"The {what} is empty; give one.")
    if len(text) > most:
        raise ProjectError(f"The {what} has {len(text)} characters; at most {most} fit.")
    allowed = "\n" if most > TITLE_MAX else ""
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c not in allowed]
    if bad:
        raise ProjectError(
            f"The {what} contains a control character ({ord(bad[0]):#x}); type plain text."
        )
    return text


def clean_labels(raw: Iterable[str]) -> tuple[str, ...]:
    """Labels lower-cased, de-duplicated and checked (each a short word)."""
    out: list[str] = []
    for label in raw:
        label = clean_text(label, "label", LABEL_MAX, required=False).lower()
        if label and label not in out:
            out.append(label)
    if len(out) > MAX_LABELS:
        raise ProjectError(f"A task has at most {MAX_LABELS} labels ({len(out)} given).")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Project:
    """A project; `deleted` is a soft delete (restore brings it back with its tasks)."""

    id: int
    name: str
    description: str = ""
    owner: int = 0  # a Discord user id (0: the console)
    status: str = "active"
    archived: bool = False
    deleted: bool = False
    due: float | None = None  # Unix seconds: the burndown's ideal line ends here
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class Task:
    """A task of a project; times are Unix seconds."""

    id: int
    project_id: int
    title: str
    description: str = ""
    status: str = "backlog"
    priority: str = "normal"
    assignees: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    due: float | None = None
    host: str = ""
    alert_fingerprint: str = ""
    alert_state: str = ""  # "firing", "resolved" or "" (not from an alert)
    thread_id: int = 0
    created: float = 0.0
    started: float | None = None
    completed: float | None = None
    deleted: bool = False

    @property
    def is_open(self) -> bool:
        """Not done and not deleted."""
        return self.status != "done" and not self.deleted

    def overdue(self, now: float) -> bool:
        """Open and past its due time."""
        return self.is_open and self.due is not None and self.due < now


@dataclass(frozen=True, slots=True)
class Event:
    """One change: `before` and `after` hold only the fields that changed (a creation has
    every field in `after` and nothing before)."""

    at: float
    actor: str
    entity: str  # "project" or "task"
    entity_id: int
    action: str  # create, edit, move, assign, delete, restore, archive, alert, ...
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class State:
    """Every project and task as the log says they are now."""

    projects: Mapping[int, Project] = field(default_factory=dict)
    tasks: Mapping[int, Task] = field(default_factory=dict)


def as_fields(obj: Project | Task) -> dict[str, Any]:
    """A project or task as plain JSON-able fields (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def from_fields(kind: type[Project] | type[Task], values: Mapping[str, Any]) -> Any:
    """The inverse of `as_fields`."""
    known = {f.name for f in fields(kind)}
    return kind(**{k: _tuple(v) for k, v in values.items() if k in known})


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _diff(old: Project | Task, new: Project | Task) -> tuple[dict[str, Any], dict[str, Any]]:
    a, b = as_fields(old), as_fields(new)
    changed = [k for k in b if a[k] != b[k]]
    return {k: a[k] for k in changed}, {k: b[k] for k in changed}


def change(
    old: Project | Task, new: Project | Task, action: str, actor: str, at: float
) -> Event | None:
    """The event that turns `old` into `new`, or None when nothing changed."""
    before, after = _diff(old, new)
    if not after:
        return None
    entity = "project" if isinstance(old, Project) else "task"
    return Event(at, actor, entity, old.id, action, before, after)


# -- projects ------------------------------------------------------------------------------


def new_project(
    project_id: int,
    name: str,
    *,
    description: str = "",
    owner: int = 0,
    due: float | None = None,
    actor: str,
    at: float,
) -> tuple[Project, Event]:
    """A new project and its creation event; the name and description are checked."""
    project = Project(
        project_id,
        clean_text(name, "project name", NAME_MAX),
        clean_text(description, "description", DESCRIPTION_MAX, required=False),
        owner,
        due=due,
        created=at,
    )
    return project, Event(at, actor, "project", project_id, "create", {}, as_fields(project))


def edit_project(
    project: Project, *, actor: str, at: float, action: str = "edit", **changes: Any
) -> tuple[Project, Event | None]:
    """The project with `changes` (name, description, status, archived, deleted, due)."""
    if "name" in changes:
        changes["name"] = clean_text(changes["name"], "project name", NAME_MAX)
    if "description" in changes:
        changes["description"] = clean_text(
            changes["description"], "description", DESCRIPTION_MAX, required=False
        )
    if changes.get("status", project.status) not in PROJECT_STATUSES:
        raise ProjectError(f"A project's status is one of {', '.join(PROJECT_STATUSES)}.")
    new = replace(project, **changes)
    return new, change(project, new, action, actor, at)


# -- tasks ---------------------------------------------------------------------------------


def new_task(
    task_id: int,
    project_id: int,
    title: str,
    *,
    description: str = "",
    priority: str = "normal",
    status: str = "backlog",
    labels: Iterable[str] = (),
    assignees: Iterable[int] = (),
    due: float | None = None,
    host: str = "",
    alert_fingerprint: str = "",
    alert_state: str = "",
    actor: str,
    at: float,
) -> tuple[Task, Event]:
    """A new task and its creation event; every text is checked."""
    _check_choice(status, STATUSES, "status")
    _check_choice(priority, PRIORITIES, "priority")
    task = Task(
        task_id,
        project_id,
        clean_text(title, "title", TITLE_MAX),
        clean_text(description, "description", DESCRIPTION_MAX, required=False),
        status,
        priority,
        _assignees(assignees),
        clean_labels(labels),
        due,
        clean_text(host, "host", NAME_MAX, required=False),
        alert_fingerprint,
        alert_state,
        created=at,
    )
    task = _stamp(task, status, at)
    return task, Event(at, actor, "task", task_id, "create", {}, as_fields(task))


def edit_task(
    task: Task, *, actor: str, at: float, action: str = "edit", **changes: Any
) -> tuple[Task, Event | None]:
    """The task with `changes` checked (title, description, priority, labels, due, host, ...)."""
    if "title" in changes:
        changes["title"] = clean_text(changes["title"], "title", TITLE_MAX)
    if "description" in changes:
        changes["description"] = clean_text(
            changes["description"], "description", DESCRIPTION_MAX, required=False
        )
    if "labels" in changes:
        changes["labels"] = clean_labels(changes["labels"])
    if "assignees" in changes:
        changes["assignees"] = _assignees(changes["assignees"])
    if "priority" in changes:
        _check_choice(changes["priority"], PRIORITIES, "priority")
    if "status" in changes:
        return move(
            replace(task, **{k: v for k, v in changes.items() if k != "status"}),
            changes["status"],
            actor=actor,
            at=at,
            original=task,
            action=action,
        )
    new = replace(task, **changes)
    return new, change(task, new, action, actor, at)


def move(
    task: Task,
    status: str,
    *,
    actor: str,
    at: float,
    original: Task | None = None,
    action: str = "move",
) -> tuple[Task, Event | None]:
    """The task in `status`; the first move to doing stamps `started`, done stamps `completed`
    and leaving done clears it."""
    _check_choice(status, STATUSES, "status")
    if task.deleted:
        raise ProjectError(f"Task #{task.id} is deleted; restore it first.")
    new = _stamp(replace(task, status=status), status, at)
    return new, change(original or task, new, action, actor, at)


def _stamp(task: Task, status: str, at: float) -> Task:
    if status in ("doing", "done") and task.started is None:
        task = replace(task, started=at)
    if status == "done":
        return replace(task, completed=task.completed if task.completed is not None else at)
    return replace(task, completed=None)


def assign(
    task: Task, user_id: int, *, actor: str, at: float, remove: bool = False
) -> tuple[Task, Event | None]:
    """The task with `user_id` among its assignees (or taken off them)."""
    people = [u for u in task.assignees if u != user_id]
    if not remove:
        people.append(user_id)
    return edit_task(
        task, actor=actor, at=at, action="unassign" if remove else "assign", assignees=people
    )


def set_deleted(task: Task, deleted: bool, *, actor: str, at: float) -> tuple[Task, Event | None]:
    """A soft delete (or its restore): the task and its history stay in the log."""
    new = replace(task, deleted=deleted)
    return new, change(task, new, "delete" if deleted else "restore", actor, at)


def _assignees(raw: Iterable[int]) -> tuple[int, ...]:
    out = tuple(dict.fromkeys(int(u) for u in raw))
    if len(out) > MAX_ASSIGNEES:
        raise ProjectError(f"A task has at most {MAX_ASSIGNEES} assignees.")
    return out


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ProjectError(f"{value!r} is not a {what}; use one of {', '.join(allowed)}.")


# -- the log -------------------------------------------------------------------------------


def apply(state: State, event: Event) -> State:
    """`state` with one event applied."""
    if event.entity == "project":
        projects = dict(state.projects)
        if event.action == "create":
            projects[event.entity_id] = from_fields(Project, event.after)
        else:
            old = projects[event.entity_id]
            projects[event.entity_id] = replace(
                old, **{k: _tuple(v) for k, v in event.after.items()}
            )
        return State(projects, state.tasks)
    tasks = dict(state.tasks)
    if event.action == "create":
        tasks[event.entity_id] = from_fields(Task, event.after)
    else:
        tasks[event.entity_id] = replace(
            tasks[event.entity_id], **{k: _tuple(v) for k, v in event.after.items()}
        )
    return State(state.projects, tasks)


def replay(events: Iterable[Event]) -> State:
    """The state the log describes: every event applied in order."""
    state = State()
    for event in events:
        state = apply(state, event)
    return state
