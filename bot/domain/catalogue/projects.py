"""The projects feature's part of the catalogue: /project, /task, and the buttons on project
and task messages (docs/projects.md).

Viewers list and show; operators create and change projects' tasks; admins archive, delete
and restore projects. Custom id arguments: a task's or project's id (`17`), an alert's
fingerprint for "Create task", and for the pages of /task list the filter
`<page>|<project>|<status>|<label>|<host>|<mine>|<overdue>`.
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import Arg, CommandSpec, ComponentSpec
from bot.domain.permissions import Role
from bot.domain.projects.model import (
    DESCRIPTION_MAX,
    NAME_MAX,
    PRIORITIES,
    STATUSES,
    TITLE_MAX,
)

log = logging.getLogger(__name__)

_PROJECT = Arg("project", help="the project's name", required=True, max_length=NAME_MAX)
_TASK = Arg("task", "int", "the task's number (#17: 17)", required=True, minimum=1, maximum=2**31)
_DUE = Arg("due", help="due day: 2026-12-24, fri, tomorrow, +3d", max_length=20)
_LABELS = Arg("labels", help="comma-separated labels", max_length=200)
_HOST = Arg("host", help="the host it concerns", max_length=NAME_MAX)

PROJECT_CREATE = CommandSpec(
    "project create",
    "Start a project",
    Role.OPERATOR,
    "admin",
    args=(
        # Left out on Discord: the New project form asks for it (on the console: required).
        Arg("name", help="the project's name (left out: a form asks)", max_length=NAME_MAX),
        Arg("description", help="what it is for", max_length=DESCRIPTION_MAX),
        _DUE,
    ),
)
PROJECT_LIST = CommandSpec(
    "project list",
    "Projects and their open tasks",
    Role.VIEWER,
    args=(
        Arg(
            "archived", "choice", "show archived projects too", default="no", choices=("no", "yes")
        ),
    ),
)
PROJECT_SHOW = CommandSpec(
    "project show",
    "A project's dashboard: columns, overdue tasks, activity, charts",
    Role.VIEWER,
    args=(_PROJECT,),
)
PROJECT_ARCHIVE = CommandSpec(
    "project archive", "Archive a project (its tasks stay)", Role.ADMIN, "admin", args=(_PROJECT,)
)
PROJECT_DELETE = CommandSpec(
    "project delete",
    "Delete a project (restore brings it back)",
    Role.ADMIN,
    "admin",
    args=(_PROJECT,),
)
PROJECT_RESTORE = CommandSpec(
    "project restore",
    "Bring back an archived or deleted project",
    Role.ADMIN,
    "admin",
    args=(_PROJECT,),
)

TASK_ADD = CommandSpec(
    "task add",
    "Add a task to a project",
    Role.OPERATOR,
    "admin",
    args=(
        _PROJECT,
        # Left out on Discord: the New task form asks for it (on the console: required).
        Arg("title", help="what is to be done (left out: a form asks)", max_length=TITLE_MAX),
        Arg("description", help="details", max_length=DESCRIPTION_MAX),
        _DUE,
        Arg("priority", "choice", "how urgent", default="normal", choices=PRIORITIES),
        _LABELS,
        _HOST,
        Arg("assignee", "user", "who does it"),
    ),
)
TASK_EDIT = CommandSpec(
    "task edit",
    "Change a task's title, description, due day, priority, labels or host (none given: a form)",
    Role.OPERATOR,
    "admin",
    args=(
        _TASK,
        Arg("title", help="new title", max_length=TITLE_MAX),
        Arg("description", help="new description", max_length=DESCRIPTION_MAX),
        Arg("due", help="new due day (or 'none')", max_length=20),
        Arg("priority", "choice", "new priority", choices=PRIORITIES),
        Arg("labels", help="new labels, comma-separated (or 'none')", max_length=200),
        Arg("host", help="new host (or 'none')", max_length=NAME_MAX),
    ),
)
TASK_MOVE = CommandSpec(
    "task move",
    "Move a task to another column",
    Role.OPERATOR,
    "admin",
    args=(_TASK, Arg("status", "choice", "the new column", required=True, choices=STATUSES)),
)
TASK_ASSIGN = CommandSpec(
    "task assign",
    "Assign a task to someone (again: take them off)",
    Role.OPERATOR,
    "admin",
    args=(_TASK, Arg("user", "user", "who", required=True)),
)
TASK_DONE = CommandSpec("task done", "Mark a task done", Role.OPERATOR, "admin", args=(_TASK,))
TASK_SHOW = CommandSpec("task show", "One task with its buttons", Role.VIEWER, args=(_TASK,))
TASK_LIST = CommandSpec(
    "task list",
    "Tasks, filtered, a page at a time",
    Role.VIEWER,
    args=(
        Arg("project", help="only this project", max_length=NAME_MAX),
        Arg("status", "choice", "only this column", choices=STATUSES),
        Arg("label", help="only tasks with this label", max_length=30),
        Arg("host", help="only tasks about this host", max_length=NAME_MAX),
        Arg("mine", "choice", "only tasks assigned to me", default="no", choices=("no", "yes")),
        Arg("overdue", "choice", "only overdue tasks", default="no", choices=("no", "yes")),
        Arg("page", "int", "which page", default=1, minimum=1, maximum=1000),
    ),
)
TASK_DELETE = CommandSpec(
    "task delete", "Delete a task (restore brings it back)", Role.OPERATOR, "admin", args=(_TASK,)
)
TASK_RESTORE = CommandSpec(
    "task restore", "Bring back a deleted task", Role.OPERATOR, "admin", args=(_TASK,)
)
TASK_THREAD = CommandSpec(
    "task thread", "Open a thread for a task's discussion", Role.OPERATOR, "admin", args=(_TASK,)
)

# Buttons on a task message (argument: the task id).
TASK_START = ComponentSpec("task.start", Role.OPERATOR, "admin", edits=True)
TASK_FINISH = ComponentSpec("task.done", Role.OPERATOR, "admin", edits=True)
TASK_CLAIM = ComponentSpec("task.claim", Role.OPERATOR, "admin", edits=True)
TASK_BLOCK = ComponentSpec("task.block", Role.OPERATOR, "admin", edits=True)
TASK_EDIT_FORM = ComponentSpec(
    "task.edit",
    Role.OPERATOR,
    "admin",
    form=(
        Arg("title", help="new title (empty: unchanged)", max_length=TITLE_MAX),
        Arg("description", help="new description (empty: unchanged)", max_length=1000),
        Arg("due", help="due day: fri, +3d, 2026-12-24 (empty: unchanged)", max_length=20),
        Arg("labels", help="labels, comma-separated (empty: unchanged)", max_length=200),
    ),
)
# On a project's dashboard (argument: the project id): a new task through a form.
TASK_NEW_FORM = ComponentSpec(
    "task.new",
    Role.OPERATOR,
    "admin",
    form=(
        Arg("title", help="what is to be done", required=True, max_length=TITLE_MAX),
        Arg("description", help="details", max_length=1000),
        Arg("due", help="due day: fri, +3d, 2026-12-24", max_length=20),
        Arg("labels", help="labels, comma-separated", max_length=200),
    ),
)
# On /project list: a new project through a form (argument empty).
PROJECT_NEW_FORM = ComponentSpec(
    "project.new",
    Role.OPERATOR,
    "admin",
    form=(
        Arg("name", help="the project's name", required=True, max_length=NAME_MAX),
        Arg("description", help="what it is for", max_length=1000),
        Arg("due", help="due day: fri, +3d, 2026-12-24", max_length=20),
    ),
)
# Pages of /task list (argument: the filter, see above), replacing the list in place.
TASK_PAGE = ComponentSpec("task.page", Role.VIEWER, edits=True)
# On an alert message (argument: the alert's fingerprint): a task linked to the alert.
TASK_FROM_ALERT = ComponentSpec("task.from_alert", Role.OPERATOR, "admin")

COMMANDS = (
    PROJECT_CREATE,
    PROJECT_LIST,
    PROJECT_SHOW,
    PROJECT_ARCHIVE,
    PROJECT_DELETE,
    PROJECT_RESTORE,
    TASK_ADD,
    TASK_EDIT,
    TASK_MOVE,
    TASK_ASSIGN,
    TASK_DONE,
    TASK_SHOW,
    TASK_LIST,
    TASK_DELETE,
    TASK_RESTORE,
    TASK_THREAD,
)
COMPONENTS = (
    TASK_START,
    TASK_FINISH,
    TASK_CLAIM,
    TASK_BLOCK,
    TASK_EDIT_FORM,
    TASK_NEW_FORM,
    PROJECT_NEW_FORM,
    TASK_PAGE,
    TASK_FROM_ALERT,
)
