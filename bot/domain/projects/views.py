"""Messages of the projects feature: a task with its buttons, the task list in pages, the
project list. Every text that came from a user is escaped.

Example::

    task_message(task, project_name="NAS upgrade", now=1796302800.0)   # embed + 5 buttons
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.domain.catalogue import projects as part
from bot.domain.messages import Button, ButtonStyle, Embed, Field, Message, Row
from bot.domain.projects.model import Project, Task
from bot.domain.text import escape

log = logging.getLogger(__name__)

# /task list: lines per page, so a page stays well inside an embed's 4096 characters.
PAGE_SIZE = 15
STATUS_COLOURS = {
    "backlog": 0x95A5A6,
    "todo": 0x3498DB,
    "doing": 0xF1C40F,
    "blocked": 0xE74C3C,
    "done": 0x2ECC71,
}


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What /task list shows; `encode` fits it into a page button's custom id."""

    page: int = 1
    project_id: int = 0
    status: str = ""
    label: str = ""
    host: str = ""
    mine: int = 0  # the asking user's id, 0: everyone's
    overdue: bool = False

    def encode(self, page: int) -> str:
        """`<page>|<project>|<status>|<label>|<host>|<mine>|<overdue>`, cut to fit."""
        bits = [
            str(page),
            str(self.project_id),
            self.status,
            self.label[:20],
            self.host[:20],
            str(self.mine),
            "1" if self.overdue else "0",
        ]
        return "|".join(b.replace("|", "") for b in bits)

    @classmethod
    def decode(cls, arg: str) -> TaskFilter | None:
        """The filter a page button carries, None when it is malformed."""
        bits = arg.split("|")
        if len(bits) != 7:
            return None
        try:
            return cls(
                int(bits[0]), int(bits[1]), bits[2], bits[3], bits[4], int(bits[5]), bits[6] == "1"
            )
        except ValueError:
            return None

    def matches(self, task: Task, now: float) -> bool:
        """Whether `task` is in this filter (deleted tasks never are)."""
        return (
            not task.deleted
            and (not self.project_id or task.project_id == self.project_id)
            and (not self.status or task.status == self.status)
            and (not self.label or self.label.lower() in task.labels)
            and (not self.host or task.host.casefold() == self.host.casefold())
            and (not self.mine or self.mine in task.assignees)
            and (not self.overdue or task.overdue(now))
        )


def due_text(task: Task, now: float) -> str:
    """`due <t:...:D> (<t:...:R>)`, marked when overdue."""
    if task.due is None:
        return ""
    mark = " **overdue**" if task.overdue(now) else ""
    return f"due <t:{int(task.due)}:D> (<t:{int(task.due)}:R>){mark}"


def task_line(task: Task, now: float) -> str:
    """One line of a list: `#17 [doing] title · due ... · @people`."""
    bits = [f"`#{task.id}` [{task.status}] {escape(task.title)}"]
    if task.due is not None:
        bits.append(due_text(task, now))
    if task.assignees:
        bits.append(" ".join(f"<@{u}>" for u in task.assignees))
    return " · ".join(bits)


def task_buttons(task: Task) -> Row:
    """Start, Done, Assign me, Block, Edit: dynamic items carrying the task id."""
    tid = str(task.id)
    return (
        Button(
            part.TASK_START.custom_id(tid),
            "Start",
            part.TASK_START.permission,
            ButtonStyle.PRIMARY,
            disabled=task.status == "doing" or task.deleted,
        ),
        Button(
            part.TASK_FINISH.custom_id(tid),
            "Done",
            part.TASK_FINISH.permission,
            ButtonStyle.SUCCESS,
            disabled=task.status == "done" or task.deleted,
        ),
        Button(
            part.TASK_CLAIM.custom_id(tid),
            "Assign me",
            part.TASK_CLAIM.permission,
            disabled=task.deleted,
        ),
        Button(
            part.TASK_BLOCK.custom_id(tid),
            "Block",
            part.TASK_BLOCK.permission,
            ButtonStyle.DANGER,
            disabled=task.status == "blocked" or task.deleted,
        ),
        Button(
            part.TASK_EDIT_FORM.custom_id(tid),
            "Edit",
            part.TASK_EDIT_FORM.permission,
            disabled=task.deleted,
        ),
    )


def task_message(task: Task, project_name: str, now: float, note: str = "") -> Message:
    """One task: its fields, its alert's state, and its buttons."""
    fields = [Field("Status", task.status, True), Field("Priority", task.priority, True)]
    if task.assignees:
        fields.append(Field("Assignees", " ".join(f"<@{u}>" for u in task.assignees), True))
    if task.due is not None:
        fields.append(Field("Due", due_text(task, now), True))
    if task.labels:
        fields.append(Field("Labels", escape(", ".join(task.labels)), True))
    if task.host:
        fields.append(Field("Host", escape(task.host), True))
    if task.alert_fingerprint:
        state = {"firing": "firing", "resolved": "resolved ✅"}.get(task.alert_state, "unknown")
        fields.append(Field("Alert", f"`{task.alert_fingerprint}` · {state}", True))
    title = f"#{task.id} {escape(task.title)}"
    if task.deleted:
        title += " (deleted)"
    return Message(
        text=note,
        embeds=(
            Embed(
                title=title[:256],
                description=escape(task.description),
                fields=tuple(fields),
                colour=STATUS_COLOURS.get(task.status),
                footer=f"project {project_name}"[:2048],
            ),
        ),
        rows=() if task.deleted else (task_buttons(task),),
    )


def task_list(
    tasks: Sequence[Task], flt: TaskFilter, now: float, projects: Mapping[int, Project]
) -> Message:
    """The page `flt.page` of the tasks matching `flt`, with Previous/Next buttons."""
    shown = sorted(
        (t for t in tasks if flt.matches(t, now)),
        key=lambda t: (t.status == "done", t.due is None, t.due or 0, t.id),
    )
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = min(max(1, flt.page), pages)
    chunk = shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    lines = [
        task_line(t, now)
        + (
            f" · {escape(projects[t.project_id].name)}"
            if not flt.project_id and t.project_id in projects
            else ""
        )
        for t in chunk
    ]
    rows: tuple[Row, ...] = ()
    if pages > 1:
        rows = (
            (
                Button(
                    part.TASK_PAGE.custom_id(flt.encode(page - 1)),
                    "Previous",
                    part.TASK_PAGE.permission,
                    disabled=page <= 1,
                ),
                Button(
                    part.TASK_PAGE.custom_id(flt.encode(page + 1)),
                    "Next",
                    part.TASK_PAGE.permission,
                    disabled=page >= pages,
                ),
            ),
        )
    return Message(
        embeds=(
            Embed(
                title=f"{len(shown)} task{'s' if len(shown) != 1 else ''}",
                description="\n".join(lines) or "No task matches.",
                footer=f"page {page} of {pages}",
            ),
        ),
        rows=rows,
    )


def project_list(projects: Sequence[Project], tasks: Sequence[Task], now: float) -> Message:
    """Every project with its open, overdue and done counts, and a New project button."""
    lines = []
    for p in sorted(projects, key=lambda p: p.name.casefold()):
        mine = [t for t in tasks if t.project_id == p.id and not t.deleted]
        open_ = sum(1 for t in mine if t.is_open)
        late = sum(1 for t in mine if t.overdue(now))
        flag = " (archived)" if p.archived else ""
        lines.append(
            f"**{escape(p.name)}**{flag}: {open_} open, {late} overdue, {len(mine) - open_} done"
        )
    new = Button(
        part.PROJECT_NEW_FORM.custom_id(),
        "New project",
        part.PROJECT_NEW_FORM.permission,
        ButtonStyle.PRIMARY,
    )
    return Message(
        embeds=(Embed(title="Projects", description="\n".join(lines[:60]) or "No projects yet."),),
        rows=((new,),),
    )
