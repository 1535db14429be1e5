"""/project and /task, with autocomplete for projects, tasks and hosts (assignees use
Discord's own user picker); the buttons on task messages are dynamic items, and /task thread
opens a thread for a task's discussion.

`/project create` without a name, `/task add` without a title and `/task edit` with nothing
to change open the catalogue's forms (modals). The notice loop, a `tasks.loop` started in
`cog_load` that waits for the gateway, sends the reminders and the daily overdue digest every
ten minutes (and once at start); claims in the database keep each to one send."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.domain.catalogue import projects as part
from bot.domain.catalogue.spec import ComponentSpec
from bot.domain.messages import Message
from bot.interfaces.discord.components import FormModal
from bot.interfaces.discord.guard import (
    actor_of,
    defer_private,
    defer_public,
    form_wanted,
    opens_form,
    send,
    spec_command,
)
from bot.interfaces.discord.notify import DiscordNotifier
from bot.interfaces.discord.render import render
from bot.services.charts import ChartService
from bot.services.ports import MetricsUnavailable
from bot.services.projects import NOTICE_SECONDS, ProjectService

if TYPE_CHECKING:
    from bot.interfaces.discord.client import HomelabBot

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices


def _service(interaction: discord.Interaction[Any]) -> ProjectService | None:
    bot: HomelabBot = interaction.client
    return bot.core.feature(ProjectService)


async def project_names(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Live projects whose name contains what was typed."""
    service = _service(interaction)
    names = await service.project_names(current) if service else []
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names][:MAX_CHOICES]


async def gone_project_names(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Deleted and archived projects whose name contains what was typed (for restore)."""
    service = _service(interaction)
    names = await service.project_names(current, gone=True) if service else []
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names][:MAX_CHOICES]


async def task_numbers(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[int]]:
    """Live tasks whose number or title contains what was typed."""
    service = _service(interaction)
    found = await service.task_choices(current) if service else []
    return [app_commands.Choice(name=label[:100], value=tid) for label, tid in found][:MAX_CHOICES]


async def gone_task_numbers(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[int]]:
    """Deleted tasks whose number or title contains what was typed (for restore)."""
    service = _service(interaction)
    found = await service.task_choices(current, gone=True) if service else []
    return [app_commands.Choice(name=label[:100], value=tid) for label, tid in found][:MAX_CHOICES]


async def host_names(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Hosts Prometheus knows, and hosts already named on tasks."""
    service = _service(interaction)
    names = set(await service.host_names(current)) if service else set()
    bot: HomelabBot = interaction.client
    charts = bot.core.feature(ChartService)
    if charts is not None:
        with contextlib.suppress(MetricsUnavailable):
            names |= {n for n in await charts.host_names() if current.casefold() in n.casefold()}
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in sorted(names)][:MAX_CHOICES]


class _Face(commands.GroupCog):
    """Shared: run a catalogue command and answer."""

    bot: HomelabBot

    async def _run(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        args: dict[str, Any],
        public: bool = False,
    ) -> None:
        await (defer_public if public else defer_private)(interaction)
        msg = await self.bot.core.call(actor_of(interaction), name, args)
        await send(interaction, msg)

    async def _form(
        self, interaction: discord.Interaction[Any], spec: ComponentSpec, arg: str = ""
    ) -> None:
        """Answer with the form (the tree only decided; the submit is checked and audited)."""
        defaults = await self.bot.core.form_defaults(spec.route, arg)
        await interaction.response.send_modal(FormModal(spec, arg, defaults))


class ProjectCog(_Face, group_name="project", group_description="Projects"):
    """Projects: create, list, show (the dashboard), archive, delete, restore; and the loop
    that sends the task reminders and the overdue digest."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        self.service = bot.core.feature(ProjectService)
        self.notifier = DiscordNotifier(bot)
        super().__init__()

    async def cog_load(self) -> None:
        """Start the notice loop."""
        if self.service is not None:
            self.notices.start()

    async def cog_unload(self) -> None:
        """Stop the notice loop."""
        self.notices.cancel()

    @tasks.loop(seconds=NOTICE_SECONDS)
    async def notices(self) -> None:
        """Reminders and the digest (a failure is logged, the next round tries again)."""
        assert self.service is not None
        try:
            await self.service.notices(self.notifier, self.bot.settings.projects.digest_hour)
        except Exception:
            log.exception("task reminders or the digest failed; the next round tries again")

    @notices.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    @opens_form(lambda options: not options.name)
    @spec_command(part.PROJECT_CREATE)
    async def create(
        self,
        interaction: discord.Interaction[Any],
        name: str | None = None,
        description: str | None = None,
        due: str | None = None,
    ) -> None:
        """Start a project (no name given: the New project form)."""
        if form_wanted(interaction):
            await self._form(interaction, part.PROJECT_NEW_FORM)
            return
        await self._run(
            interaction,
            part.PROJECT_CREATE.name,
            {"name": name, "description": description, "due": due},
        )

    @spec_command(part.PROJECT_LIST)
    async def list(self, interaction: discord.Interaction[Any], archived: str = "no") -> None:
        """Projects and their open tasks."""
        await self._run(interaction, part.PROJECT_LIST.name, {"archived": archived}, True)

    @spec_command(part.PROJECT_SHOW)
    @app_commands.autocomplete(project=project_names)
    async def show(self, interaction: discord.Interaction[Any], project: str) -> None:
        """A project's dashboard."""
        await self._run(interaction, part.PROJECT_SHOW.name, {"project": project}, True)

    @spec_command(part.PROJECT_ARCHIVE)
    @app_commands.autocomplete(project=project_names)
    async def archive(self, interaction: discord.Interaction[Any], project: str) -> None:
        """Archive a project."""
        await self._run(interaction, part.PROJECT_ARCHIVE.name, {"project": project})

    @spec_command(part.PROJECT_DELETE)
    @app_commands.autocomplete(project=project_names)
    async def delete(self, interaction: discord.Interaction[Any], project: str) -> None:
        """Delete a project."""
        await self._run(interaction, part.PROJECT_DELETE.name, {"project": project})

    @spec_command(part.PROJECT_RESTORE)
    @app_commands.autocomplete(project=gone_project_names)
    async def restore(self, interaction: discord.Interaction[Any], project: str) -> None:
        """Bring back a project."""
        await self._run(interaction, part.PROJECT_RESTORE.name, {"project": project})


class TaskCog(_Face, group_name="task", group_description="Tasks"):
    """Tasks: add, edit, move, assign, done, show, list, delete, restore, thread."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @opens_form(lambda options: not options.title)
    @spec_command(part.TASK_ADD)
    @app_commands.autocomplete(project=project_names, host=host_names)
    async def add(
        self,
        interaction: discord.Interaction[Any],
        project: str,
        title: str | None = None,
        description: str | None = None,
        due: str | None = None,
        priority: str = "normal",
        labels: str | None = None,
        host: str | None = None,
        assignee: discord.User | None = None,
    ) -> None:
        """Add a task to a project (no title given: the New task form)."""
        if form_wanted(interaction):
            service = self.bot.core.feature(ProjectService)
            pid = await service.project_id(project) if service else None
            if pid is None:
                await send(
                    interaction,
                    Message(
                        text=f"There is no project {project!r}. See /project list.",
                        ephemeral=True,
                        outcome="not_found",
                    ),
                )
                return
            await self._form(interaction, part.TASK_NEW_FORM, str(pid))
            return
        await self._run(
            interaction,
            part.TASK_ADD.name,
            {
                "project": project,
                "title": title,
                "description": description,
                "due": due,
                "priority": priority,
                "labels": labels,
                "host": host,
                "assignee": assignee.id if assignee else None,
            },
        )

    @opens_form(lambda o: not any((o.title, o.description, o.due, o.priority, o.labels, o.host)))
    @spec_command(part.TASK_EDIT)
    @app_commands.autocomplete(task=task_numbers)
    @app_commands.autocomplete(host=host_names)
    async def edit(
        self,
        interaction: discord.Interaction[Any],
        task: int,
        title: str | None = None,
        description: str | None = None,
        due: str | None = None,
        priority: str | None = None,
        labels: str | None = None,
        host: str | None = None,
    ) -> None:
        """Change a task (nothing given to change: the Edit form)."""
        if form_wanted(interaction):
            await self._form(interaction, part.TASK_EDIT_FORM, str(task))
            return
        await self._run(
            interaction,
            part.TASK_EDIT.name,
            {
                "task": task,
                "title": title,
                "description": description,
                "due": due,
                "priority": priority,
                "labels": labels,
                "host": host,
            },
        )

    @spec_command(part.TASK_MOVE)
    @app_commands.autocomplete(task=task_numbers)
    async def move(self, interaction: discord.Interaction[Any], task: int, status: str) -> None:
        """Move a task to another column."""
        await self._run(interaction, part.TASK_MOVE.name, {"task": task, "status": status})

    @spec_command(part.TASK_ASSIGN)
    @app_commands.autocomplete(task=task_numbers)
    async def assign(
        self, interaction: discord.Interaction[Any], task: int, user: discord.User
    ) -> None:
        """Assign a task."""
        await self._run(interaction, part.TASK_ASSIGN.name, {"task": task, "user": user.id})

    @spec_command(part.TASK_DONE)
    @app_commands.autocomplete(task=task_numbers)
    async def done(self, interaction: discord.Interaction[Any], task: int) -> None:
        """Mark a task done."""
        await self._run(interaction, part.TASK_DONE.name, {"task": task})

    @spec_command(part.TASK_SHOW)
    @app_commands.autocomplete(task=task_numbers)
    async def show(self, interaction: discord.Interaction[Any], task: int) -> None:
        """One task with its buttons."""
        await self._run(interaction, part.TASK_SHOW.name, {"task": task}, True)

    @spec_command(part.TASK_LIST)
    @app_commands.autocomplete(project=project_names, host=host_names)
    async def list(
        self,
        interaction: discord.Interaction[Any],
        project: str | None = None,
        status: str | None = None,
        label: str | None = None,
        host: str | None = None,
        mine: str = "no",
        overdue: str = "no",
        page: int = 1,
    ) -> None:
        """Tasks, filtered, a page at a time."""
        await self._run(
            interaction,
            part.TASK_LIST.name,
            {
                "project": project,
                "status": status,
                "label": label,
                "host": host,
                "mine": mine,
                "overdue": overdue,
                "page": page,
            },
            True,
        )

    @spec_command(part.TASK_DELETE)
    @app_commands.autocomplete(task=task_numbers)
    async def delete(self, interaction: discord.Interaction[Any], task: int) -> None:
        """Delete a task."""
        await self._run(interaction, part.TASK_DELETE.name, {"task": task})

    @spec_command(part.TASK_RESTORE)
    @app_commands.autocomplete(task=gone_task_numbers)
    async def restore(self, interaction: discord.Interaction[Any], task: int) -> None:
        """Bring back a task."""
        await self._run(interaction, part.TASK_RESTORE.name, {"task": task})

    @spec_command(part.TASK_THREAD)
    @app_commands.autocomplete(task=task_numbers)
    async def thread(self, interaction: discord.Interaction[Any], task: int) -> None:
        """Open a thread for the task and post the task in it."""
        await defer_private(interaction)
        actor = actor_of(interaction)
        msg = await self.bot.core.call(actor, part.TASK_THREAD.name, {"task": task})
        channel = interaction.channel
        service = self.bot.core.feature(ProjectService)
        if msg.outcome != "ok" or not isinstance(channel, discord.TextChannel) or not service:
            await send(interaction, msg)
            return
        found = await service.store.task(task)
        # A thread's name is plain text (no markdown, no pings): the title as typed.
        title = f"#{task} {found.title}" if found is not None else f"#{task}"
        thread = await channel.create_thread(
            name=title[:100], type=discord.ChannelType.public_thread
        )
        for piece in render(msg, self.bot.settings.discord.allowed_ping_role_ids):
            await thread.send(**piece.kwargs(interaction=False))
        await service.set_thread(task, thread.id, actor)
        await interaction.followup.send(f"Thread opened: {thread.mention}", ephemeral=True)


async def setup(bot: HomelabBot) -> None:
    """Extension entry point."""
    await bot.add_cog(ProjectCog(bot))
    await bot.add_cog(TaskCog(bot))
