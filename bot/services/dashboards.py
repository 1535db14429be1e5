"""The dashboards feature: `/dashboard show|create|list|remove|refresh`, the live refresh, and
the controls on a live dashboard.

Every type comes from the one registry (bot.domain.dashboards.types); this service gathers
each type's data (Prometheus through the status service and the chart data, Alertmanager, the
alert history, the projects), renders the drawings in the chart pool, and edits a live
dashboard only when the digest of its data changed. The face drives `tick(now)` with its
clock (a `tasks.loop` on Discord) and says where messages go (`attach`).

Example::

    service = DashboardService(store, pool, status, chart_data, alertmanager, history)
    await core.execute(CONSOLE_ACTOR, "dashboard show", {"type": "fleet"})
    service.attach(lambda channel_id: targets(Destination(channel_id=channel_id)))
    await service.tick(time.time())        # refreshes what is due
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.domain.alerts.model import Alert, is_heartbeat
from bot.domain.catalogue import dashboards as part
from bot.domain.charts import CHARTS, Chart, ChartGrid
from bot.domain.dashboards.alerts import AlertLine, AlertsData, HistoryLine, SilenceLine
from bot.domain.dashboards.fleet import GRID_CHARTS as FLEET_CHARTS
from bot.domain.dashboards.fleet import FleetData
from bot.domain.dashboards.host import GRID_CHARTS as HOST_CHARTS
from bot.domain.dashboards.host import HostData
from bot.domain.dashboards.live import Dashboard, LiveSchedule, digest, shows_instances
from bot.domain.dashboards.model import RANGE_NAMES, DashboardType, Drawing, Params, View
from bot.domain.dashboards.types import REGISTRY
from bot.domain.dashboards.welcome import WelcomeData
from bot.domain.messages import Message
from bot.domain.permissions import Actor
from bot.domain.reports.model import Episode
from bot.domain.status import HostStatus, Target, resolve
from bot.domain.text import escape
from bot.services.chart_data import ChartSeries
from bot.services.charts import chart_of
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import (
    ActiveAlert,
    AlertmanagerApi,
    AlertmanagerUnavailable,
    ChartRenderer,
    MetricsUnavailable,
    ServiceError,
    Silence,
)

log = logging.getLogger(__name__)

DAY = 86400.0
MAX_HOSTS = 50


class DashboardStore(Protocol):
    """Where live dashboards are kept (SqliteDashboardStore)."""

    async def add(
        self, channel_id: int, params: Params, interval: int, created_by: str, now: float
    ) -> Dashboard: ...
    async def all(self) -> list[Dashboard]: ...
    async def get(self, dashboard_id: int) -> Dashboard | None: ...
    async def update(
        self,
        dashboard_id: int,
        *,
        message_ids: Sequence[int] | None = None,
        params: Params | None = None,
        digest: str | None = None,
        refreshed_at: float | None = None,
    ) -> None: ...
    async def remove(self, dashboard_id: int) -> bool: ...


class DashboardTarget(Protocol):
    """A channel a dashboard is shown in (the alert delivery's ChannelTarget, or the console)."""

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Send `msg`; the ids of the messages it became."""
        ...

    async def edit(self, ids: Sequence[int], msg: Message) -> list[int]:
        """Replace `ids` with `msg` (posting anew what cannot be edited); the ids now."""
        ...

    async def delete(self, ids: Sequence[int]) -> None:
        """Delete the messages (those already gone are no error)."""
        ...


class HostStatuses(Protocol):
    """The hosts and their vital signs (StatusService)."""

    async def targets(self) -> list[tuple[Target, bool]]: ...
    async def host(
        self, target: Target, up: bool, alerts_firing: int = 0, detail: bool = False
    ) -> HostStatus: ...


class ChartSeriesSource(Protocol):
    """Named charts' series (ChartData)."""

    async def series(
        self, chart: Any, host: Target | None, range_seconds: float, now: float
    ) -> ChartSeries: ...


class AlertHistory(Protocol):
    """The alert episodes the bot saw (SqliteReportStore.episodes)."""

    async def episodes(self, since: float, until: float) -> list[Episode]: ...


class ProjectSource(Protocol):
    """A project's dashboard data (ProjectService.project_data)."""

    async def project_data(self, name: str) -> Any: ...


class RoleGranter(Protocol):
    """Gives a member a role (the Discord face); returns a sentence when it cannot."""

    async def grant(self, channel_id: int, user_id: int, role_id: int) -> str | None: ...


ChartAnswer = Callable[[Actor, str, str | None, str], Awaitable[Message]]


@dataclass(frozen=True, slots=True)
class WelcomeConfig:
    """[bot.dashboards.welcome]: the text, the links, the role the accept button grants."""

    title: str = "Welcome"
    text: str = ""
    links: tuple[tuple[str, str], ...] = ()
    accept_role_id: int = 0


@dataclass(frozen=True, slots=True)
class Drawn:
    """One dashboard built: the message, the digest of its data, the drawings not rendered."""

    message: Message
    digest: str
    drawings: Mapping[str, Drawing]
    params: Params
    view: View


class DashboardService:
    """Handlers of the dashboards part of the catalogue, and the live refresh."""

    def __init__(
        self,
        store: DashboardStore,
        renderer: ChartRenderer,
        status: HostStatuses,
        chart_data: ChartSeriesSource,
        alertmanager: AlertmanagerApi,
        history: AlertHistory,
        *,
        projects: ProjectSource | None = None,
        chart: ChartAnswer | None = None,
        welcome: WelcomeConfig = WelcomeConfig(),
        clock: Callable[[], float] = time.time,
        registry: Mapping[str, DashboardType] = REGISTRY,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.status = status
        self.chart_data = chart_data
        self.alertmanager = alertmanager
        self.history = history
        self.projects = projects
        self.chart = chart
        self.welcome = welcome
        self.clock = clock
        self.registry = registry
        self.schedule = LiveSchedule()
        self.targets: Callable[[int], DashboardTarget] | None = None
        self.members: Callable[[int], int | None] = lambda _channel: None
        self.roles: RoleGranter | None = None
        self.edits = 0  # messages edited or posted by refreshes (the benchmark reads it)
        self.skipped = 0  # refreshes whose data had not changed
        self._instances: dict[str, str] = {}  # instance -> host name, from the last collect
        self._lock = asyncio.Lock()

    def attach(
        self,
        targets: Callable[[int], DashboardTarget],
        *,
        members: Callable[[int], int | None] | None = None,
        roles: RoleGranter | None = None,
    ) -> None:
        """Where dashboards are shown (the face that runs), and what it can tell and do."""
        self.targets = targets
        if members is not None:
            self.members = members
        self.roles = roles

    def commands(self) -> Mapping[str, CommandHandler]:
        """Catalogue command name -> handler."""
        return {
            part.DASHBOARD_SHOW.name: self.show,
            part.DASHBOARD_CREATE.name: self.create,
            part.DASHBOARD_LIST.name: self.list_all,
            part.DASHBOARD_REMOVE.name: self.remove,
            part.DASHBOARD_REFRESH.name: self.refresh_command,
        }

    def components(self) -> Mapping[str, ComponentHandler]:
        """Catalogue component route -> handler."""
        return {
            part.DASH_REFRESH.route: self._refresh_click,
            part.DASH_RANGE.route: self._range_click,
            part.DASH_HOST.route: self._host_click,
            part.DASH_CHART.route: self._chart_click,
            part.WELCOME_ACCEPT.route: self._accept_click,
        }

    # -- building --------------------------------------------------------------------------

    async def build(self, params: Params, dashboard: Dashboard | None = None) -> Drawn:
        """The dashboard's data gathered and its message built, images not yet rendered."""
        kind = self.registry[params.type]
        data = await self._collect(params, dashboard)
        drawings = dict(kind.charts(params, data))
        hosts = tuple(sorted(set(self._instances.values())))
        placeholder = View(
            dashboard.id if dashboard else None, {name: b"" for name in drawings}, hosts
        )
        msg = kind.build(params, data, placeholder)
        return Drawn(msg, digest(msg, drawings), drawings, params, placeholder)

    async def render(self, drawn: Drawn) -> Message:
        """The message with its drawings rendered (in the chart pool) in place of the
        placeholders `build` left: the same data, so the same embeds."""
        images: dict[str, bytes] = {}
        for name, d in drawn.drawings.items():
            images[name] = await (
                self.renderer.grid(d) if isinstance(d, ChartGrid) else self.renderer.chart(d)
            )
        msg = drawn.message
        return replace(
            msg,
            images=tuple(
                replace(i, data=images[i.filename]) for i in msg.images if i.filename in images
            ),
        )

    async def _collect(self, params: Params, dashboard: Dashboard | None) -> Any:
        now = self.clock()
        if params.type == "fleet":
            return await self._fleet(params, now)
        if params.type == "host":
            return await self._host(params, now)
        if params.type == "alerts":
            return await self._alerts(now)
        if params.type == "welcome":
            return await self._welcome(dashboard)
        if params.type == "project":
            if self.projects is None:
                raise DashboardError("the projects feature is not running")
            data = await self.projects.project_data(params.target)
            if data is None:
                raise DashboardError(f"there is no project {params.target!r}")
            return data
        raise DashboardError(f"there is no dashboard type {params.type!r}")

    async def _targets(self) -> list[tuple[Target, bool]]:
        targets = await self.status.targets()
        self._instances = {t.instance: t.name for t, _ in targets}
        return targets

    async def _charts(
        self, names: Sequence[str], target: Target | None, params: Params, now: float
    ) -> tuple[Chart, ...]:
        specs = [CHARTS[n] for n in names]
        got = await asyncio.gather(
            *(self.chart_data.series(s, target, params.range_seconds, now) for s in specs)
        )
        return tuple(
            chart_of(s, g, s.title, stacked=s.stacked and target is not None)
            for s, g in zip(specs, got, strict=True)
        )

    async def _fleet(self, params: Params, now: float) -> FleetData:
        targets = await self._targets()
        hosts = await asyncio.gather(*(self.status.host(t, up) for t, up in targets[:MAX_HOSTS]))
        firing = await self._firing_or_empty()
        by_instance: dict[str, int] = {}
        for a in firing:
            inst = a.labels.get("instance", "")
            by_instance[inst] = by_instance.get(inst, 0) + 1
        hosts = [replace(h, alerts_firing=by_instance.get(h.target.instance, 0)) for h in hosts]
        charts = await self._charts(FLEET_CHARTS, None, params, now)
        return FleetData(tuple(hosts), len(firing), charts)

    async def _host(self, params: Params, now: float) -> HostData:
        targets = await self._targets()
        found = resolve([t for t, _ in targets], params.target)
        if found.target is None:
            known = ", ".join(sorted({t.name for t, _ in targets})[:20]) or "none yet"
            why = "matches several hosts" if found.candidates else "is not a host I know"
            raise DashboardError(f"{params.target!r} {why}; hosts: {known}")
        target = found.target
        up = dict(targets)[target]
        status, charts, firing = await asyncio.gather(
            self.status.host(target, up, detail=True),
            self._charts(HOST_CHARTS, target, params, now),
            self._firing_or_empty(),
        )
        mine = tuple(_line(a) for a in firing if a.labels.get("instance") == target.instance)
        return HostData(status, charts, mine)

    async def _firing_or_empty(self) -> list[ActiveAlert]:
        try:
            return [a for a in await self.alertmanager.alerts()
                    if a.state != "unprocessed" and not is_heartbeat(a.labels)]  # fmt: skip
        except AlertmanagerUnavailable as exc:
            log.warning("dashboards: no alerts from Alertmanager: %s", exc)
            return []

    async def _alerts(self, now: float) -> AlertsData:
        firing, silences, episodes = await asyncio.gather(
            self.alertmanager.alerts(),
            self.alertmanager.silences(),
            self.history.episodes(now - DAY, now + 1),
        )
        return AlertsData(
            firing=tuple(_line(a) for a in firing if not is_heartbeat(a.labels)),
            silences=tuple(_silence(s) for s in silences if s.state == "active"),
            history=tuple(
                HistoryLine(e.name, e.severity, e.host, e.starts, e.resolved) for e in episodes
            ),
            now=now,
        )

    async def _welcome(self, dashboard: Dashboard | None) -> WelcomeData:
        w = self.welcome
        try:
            targets = await self._targets()
        except MetricsUnavailable as exc:
            log.warning("welcome dashboard: no hosts from Prometheus: %s", exc)
            targets = []
        firing = await self._firing_or_empty()
        return WelcomeData(
            text=w.text,
            members=self.members(dashboard.channel_id) if dashboard else None,
            hosts_up=sum(1 for _, up in targets if up),
            hosts=len(targets),
            firing=len(firing),
            links=w.links,
            accept_role=bool(w.accept_role_id),
            title=w.title,
        )

    # -- commands --------------------------------------------------------------------------

    async def _drawn_or_error(
        self, params: Params, dashboard: Dashboard | None = None
    ) -> Drawn | Message:
        kind = self.registry.get(params.type)
        if kind is None:
            return _usage(
                f"There is no dashboard type {params.type!r}; the types are: "
                f"{', '.join(self.registry)}."
            )
        if kind.subject and not params.target:
            return _usage(f"A {kind.name} dashboard needs a target: the {kind.subject}'s name.")
        if params.range not in RANGE_NAMES:
            return _usage(
                f"{params.range!r} is not a range; the ranges are {', '.join(RANGE_NAMES)}."
            )
        try:
            return await self.build(params, dashboard)
        except DashboardError as exc:
            return Message(
                text=f"Cannot show the {params.type} dashboard: {exc}.",
                ephemeral=True,
                outcome="not_found",
            )
        except (MetricsUnavailable, AlertmanagerUnavailable) as exc:
            return Message(
                text=f"Cannot show the {params.type} dashboard: {exc}.",
                ephemeral=True,
                outcome="unavailable",
            )

    async def show(
        self, actor: Actor, type: str, target: str | None = None, range: str = "1h"
    ) -> Message:
        """A dashboard now, once: the same message a live one shows, without its controls."""
        drawn = await self._drawn_or_error(Params(type, (target or "").strip(), range))
        if isinstance(drawn, Message):
            return drawn
        return await self.render(drawn)

    async def create(
        self,
        actor: Actor,
        type: str,
        target: str | None = None,
        range: str = "1h",
        channel: str | None = None,
        interval: int = 60,
    ) -> Message:
        """Post a live dashboard in `channel` and keep it up to date every `interval` s."""
        digits = (channel or "").strip().removeprefix("<#").removesuffix(">")
        if digits and not digits.isdigit():
            return _usage(f"channel: {channel!r} is not a channel id or #mention.")
        channel_id = int(digits or 0)
        if self.targets is None:
            return Message(
                text="Live dashboards need a face that shows messages.",
                ephemeral=True,
                outcome="unavailable",
            )
        params = Params(type, (target or "").strip(), range)
        check = await self._drawn_or_error(params)
        if isinstance(check, Message):
            return check
        d = await self.store.add(channel_id, params, interval, actor.name, self.clock())
        try:
            await self._refresh(d, force=True)
        except ServiceError as exc:
            await self.store.remove(d.id)
            return Message(
                text=f"Cannot post the dashboard in channel {channel_id}: {exc}.",
                ephemeral=True,
                outcome="unavailable",
            )
        where = f"<#{channel_id}>" if channel_id else "the console"
        subject = f" {escape(params.target)}" if params.target else ""
        return Message(
            text=f"Dashboard #{d.id} ({type}{subject}) "
            f"is live in {where}, refreshed every {interval} s when its data "
            "changes.",
            ephemeral=True,
        )

    async def list_all(self, actor: Actor) -> Message:
        """Every live dashboard: id, type, target, channel, interval."""
        dashboards = await self.store.all()
        if not dashboards:
            return Message(
                text="No live dashboards. `/dashboard create` posts one.", ephemeral=True
            )
        lines = []
        for d in dashboards:
            p = d.params
            subject = f" {escape(p.target)}" if p.target else ""
            where = f"<#{d.channel_id}>" if d.channel_id else "console"
            lines.append(
                f"#{d.id} **{p.type}**{subject} · last {p.range} · {where} · every "
                f"{d.interval} s · by {escape(d.created_by)}"
            )
        return Message(text="\n".join(lines)[:2000], ephemeral=True)

    async def remove(self, actor: Actor, id: int) -> Message:
        """Stop a live dashboard and delete its message."""
        d = await self.store.get(id)
        if d is None:
            return Message(
                text=f"There is no dashboard #{id}.", ephemeral=True, outcome="not_found"
            )
        await self.store.remove(id)
        if self.targets is not None and d.message_ids:
            try:
                await self.targets(d.channel_id).delete(d.message_ids)
            except ServiceError as exc:
                log.warning("dashboard #%d: its message could not be deleted: %s", id, exc)
        return Message(text=f"Dashboard #{id} removed.", ephemeral=True)

    async def refresh_command(self, actor: Actor, id: int) -> Message:
        """Refresh a live dashboard now, even if its data did not change."""
        d = await self.store.get(id)
        if d is None:
            return Message(
                text=f"There is no dashboard #{id}.", ephemeral=True, outcome="not_found"
            )
        await self._refresh(d, force=True)
        return Message(text=f"Dashboard #{id} refreshed.", ephemeral=True)

    # -- clicks ----------------------------------------------------------------------------

    async def _clicked(self, arg: str) -> Dashboard | Message:
        d = await self.store.get(int(arg)) if arg.isdigit() else None
        if d is None:
            return Message(text="This dashboard was removed.", ephemeral=True, outcome="not_found")
        return d

    async def _answer(self, d: Dashboard, params: Params) -> Message:
        """The dashboard rebuilt with `params`, stored, as the clicked message's new content."""
        drawn = await self._drawn_or_error(params, d)
        if isinstance(drawn, Message):
            return drawn
        msg = await self.render(drawn)
        await self.store.update(d.id, params=params, digest=drawn.digest, refreshed_at=self.clock())
        return msg

    async def _refresh_click(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        d = await self._clicked(arg)
        return d if isinstance(d, Message) else await self._answer(d, d.params)

    async def _range_click(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        d = await self._clicked(arg)
        if isinstance(d, Message):
            return d
        chosen = values[0] if values else d.params.range
        return await self._answer(d, replace(d.params, range=chosen))

    async def _host_click(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        d = await self._clicked(arg)
        if isinstance(d, Message):
            return d
        chosen = values[0] if values else d.params.target
        return await self._answer(d, replace(d.params, target=chosen))

    async def _chart_click(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        d = await self._clicked(arg)
        if isinstance(d, Message):
            return d
        if self.chart is None or not values:
            return _usage("Charts are not available here.")
        name, _, host = values[0].partition("|")
        return await self.chart(actor, name, host or None, d.params.range)

    async def _accept_click(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        d = await self._clicked(arg)
        if isinstance(d, Message):
            return d
        role = self.welcome.accept_role_id
        if not role:
            return _usage("No role is configured for accepting the rules.")
        if self.roles is None:
            return Message(
                text="Roles can only be granted on Discord.", ephemeral=True, outcome="unavailable"
            )
        problem = await self.roles.grant(d.channel_id, actor.user_id, role)
        if problem:
            return Message(text=problem, ephemeral=True, outcome="failed")
        return Message(text="Welcome! You have the role now.", ephemeral=True)

    # -- the live refresh ------------------------------------------------------------------

    async def tick(self, now: float) -> int:
        """Refresh the dashboards due at `now` (the face's clock); how many were edited."""
        try:
            dashboards = await self.store.all()
        except ServiceError as exc:
            log.warning("dashboards: cannot read them: %s", exc)
            return 0
        edited = 0
        for d in self.schedule.due(dashboards, now):
            self.schedule.done(d, now)
            try:
                edited += await self._refresh(d)
            except (ServiceError, DashboardError) as exc:
                log.warning("dashboard #%d not refreshed: %s", d.id, exc)
        return edited

    async def _refresh(self, d: Dashboard, force: bool = False) -> int:
        """Edit `d`'s message when its data changed (or `force`); 1 when a message was sent."""
        assert self.targets is not None
        async with self._lock:  # one refresh at a time: renders queue in the pool anyway
            current = await self.store.get(d.id)
            if current is None:
                return 0
            drawn = await self.build(current.params, current)
            if not force and current.message_ids and drawn.digest == current.digest:
                self.skipped += 1
                return 0
            msg = await self.render(drawn)
            target = self.targets(current.channel_id)
            if current.message_ids:
                ids = await target.edit(current.message_ids, msg)
            else:
                ids = await target.post(msg, f"dash{current.id}x{int(self.clock())}")
            self.edits += 1
            await self.store.update(
                current.id, message_ids=ids, digest=drawn.digest, refreshed_at=self.clock()
            )
            return 1

    def projects_changed(self) -> list[int]:
        """A project or task changed: the project dashboards refresh at the next tick (the
        digest leaves those whose project did not change alone)."""
        return self.schedule.urge(lambda d: d.params.type == "project")

    def alerts_changed(self, alerts: Sequence[Alert]) -> list[int]:
        """An alert fired or resolved: the dashboards that show it refresh at the next tick."""
        instances = [a.labels.get("instance", "") or a.host for a in alerts]
        names = self._instances
        return self.schedule.urge(
            lambda d: shows_instances(d, instances, lambda i: names.get(i, i.rsplit(":", 1)[0]))
        )


class DashboardError(ServiceError):
    """A dashboard cannot be built (an unknown host or project); the message says which."""


def _usage(text: str) -> Message:
    return Message(text=text, ephemeral=True, outcome="usage")


def _line(a: ActiveAlert) -> AlertLine:
    return AlertLine(
        name=a.labels.get("alertname", "(unnamed)"),
        severity=a.labels.get("severity", ""),
        instance=a.labels.get("instance", ""),
        summary=a.annotations.get("summary", ""),
        since=a.starts_at,
        silenced=bool(a.silenced_by),
    )


def _silence(s: Silence) -> SilenceLine:
    matchers = ", ".join(f"{m.name}{'=~' if m.is_regex else '='}{m.value}" for m in s.matchers)
    return SilenceLine(s.id, matchers, s.ends_at, s.created_by, s.comment)
