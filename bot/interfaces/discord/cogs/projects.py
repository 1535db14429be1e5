"""/project and /task, with autocomplete for projects, tasks and hosts (assignees use
Discord's own user picker); the buttons on task messages are dynamic items, and /task thread
opens a thread for a task's discussion."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.catalogue import projects as part
from bot.interfaces.discord.guard import actor_of, defer_private, defer_public, send, spec_command
from bot.interfaces.discord.render import render
from bot.services.charts import ChartService
from bot.services.ports import MetricsUnavailable
from bot.services.projects import ProjectService

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


async def task_numbers(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[int]]:
    """Live tasks whose number or title contains what was typed."""
    service = _service(interaction)
    found = await service.task_choices(current) if service else []
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


class ProjectCog(_Face, group_name="project", group_description="Projects"):
    """Projects: create, list, show (the dashboard), archive, delete, restore."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(part.PROJECT_CREATE)
    async def create(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        description: str | None = None,
        due: str | None = None,
    ) -> None:
        """Start a project."""
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
    async def restore(self, interaction: discord.Interaction[Any], project: str) -> None:
        """Bring back a project."""
        await self._run(interaction, part.PROJECT_RESTORE.name, {"project": project})


class TaskCog(_Face, group_name="task", group_description="Tasks"):
    """Tasks: add, edit, move, assign, done, show, list, delete, restore, thread."""

    def __init__(self, bot: HomelabBot) -> None:
        self.bot = bot
        super().__init__()

    @spec_command(part.TASK_ADD)
    @app_commands.autocomplete(project=project_names, host=host_names)
    async def add(
        self,
        interaction: discord.Interaction[Any],
        project: str,
        title: str,
        description: str | None = None,
        due: str | None = None,
        priority: str = "normal",
        labels: str | None = None,
        host: str | None = None,
        assignee: discord.User | None = None,
    ) -> None:
        """Add a task to a project."""
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
        """Change a task."""
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
        title = msg.embeds[0].title if msg.embeds else f"#{task}"
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
