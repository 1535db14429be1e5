"""The alerts feature: /alerts, /silences, and the buttons on every alert message.

Silences go to Alertmanager's API v2 with matchers made from the alert's labels, so a
silence made here is Alertmanager's own: visible in its UI, on every cluster peer, and in
`amtool silence query`. What people did (ack, silence) is stored with the alert's episode and
shown on its message, which the delivery worker re-renders.

Example::

    alerts = AlertsService(outbox, alertmanager, grapher, wake=worker.wake)
    await core.execute(CONSOLE_ACTOR, "silences list", {})
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.domain.alerts.format import card_buttons, card_embed
from bot.domain.alerts.model import alert_from_json
from bot.domain.alerts.silences import DurationError, format_duration, parse_duration
from bot.domain.messages import Embed, Field, Message
from bot.domain.permissions import Actor
from bot.domain.text import escape
from bot.services.alert_graph import AlertGrapher
from bot.services.delivery import card_of
from bot.services.feature import CommandHandler, ComponentHandler
from bot.services.ports import (
    ActiveAlert,
    AlertmanagerApi,
    AlertmanagerUnavailable,
    AlertOutbox,
    AlertRecord,
    MetricsUnavailable,
    Silence,
    SilenceMatcher,
)

log = logging.getLogger(__name__)

PAGE = 10
QUICK = {"1h": 3600.0, "24h": 86400.0}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class AlertsService:
    """Handlers of the alerts part of the catalogue."""

    def __init__(
        self,
        outbox: AlertOutbox,
        alertmanager: AlertmanagerApi,
        grapher: AlertGrapher | None = None,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.alertmanager = alertmanager
        self.grapher = grapher
        self.wake = wake
        self.clock = clock

    def commands(self) -> Mapping[str, CommandHandler]:
        """Catalogue command name -> handler."""
        return {
            "alerts": self.alerts,
            "silences list": self.silences,
            "silences expire": self.expire,
        }

    def components(self) -> Mapping[str, ComponentHandler]:
        """Catalogue component route -> handler."""
        return {
            "alert.silence": self.quick_silence,
            "alert.silence_form": self.form_silence,
            "alert.unsilence": self.unsilence,
            "alert.ack": self.ack,
            "alert.graph": self.graph,
            "alert.pick": self.pick,
        }

    # -- commands ---------------------------------------------------------------------------

    async def alerts(self, actor: Actor, page: int = 1) -> Message:
        """The alerts Alertmanager holds now, most severe first, a page at a time."""
        try:
            held = await self.alertmanager.alerts()
        except AlertmanagerUnavailable as exc:
            return _unavailable(exc)
        held.sort(key=lambda a: (SEVERITY_ORDER.get(a.labels.get("severity", ""), 3),
                                 a.starts_at, a.labels.get("alertname", "")))  # fmt: skip
        if not held:
            return Message(text="No alerts are firing.")
        pages = (len(held) + PAGE - 1) // PAGE
        if page > pages:
            return Message(
                text=f"There are {len(held)} alerts on {pages} pages; ask for page 1 to {pages}.",
                ephemeral=True,
                outcome="not_found",
            )
        shown = held[(page - 1) * PAGE : page * PAGE]
        lines = [_alert_line(a) for a in shown]
        firing = sum(1 for a in held if a.state == "active")
        return Message(
            embeds=(
                Embed(
                    title=f"{firing} firing, {len(held) - firing} silenced or inhibited",
                    description="\n".join(lines),
                    footer=f"page {page} of {pages} · from {self.alertmanager.source}",
                    colour=0xE74C3C if firing else 0x95A5A6,
                ),
            )
        )

    async def silences(self, actor: Actor) -> Message:
        """Active and pending silences."""
        try:
            every = await self.alertmanager.silences()
        except AlertmanagerUnavailable as exc:
            return _unavailable(exc)
        live = sorted((s for s in every if s.state in ("active", "pending")),
                      key=lambda s: s.ends_at)  # fmt: skip
        if not live:
            return Message(text="No active or pending silences.")
        return Message(
            embeds=(
                Embed(
                    title=f"{len(live)} silences",
                    fields=tuple(_silence_field(s) for s in live),
                    footer=f"from {self.alertmanager.source}",
                ),
            )
        )

    async def expire(self, actor: Actor, silence_id: str) -> Message:
        """Expire one silence now."""
        try:
            await self.alertmanager.expire_silence(silence_id)
        except KeyError:
            return Message(
                text=f"Alertmanager has no silence {silence_id!r} (see /silences list).",
                ephemeral=True,
                outcome="not_found",
            )
        except AlertmanagerUnavailable as exc:
            return _unavailable(exc)
        return Message(text=f"Silence {silence_id} expired.", ephemeral=True)

    # -- buttons ----------------------------------------------------------------------------

    async def _record(self, fingerprint: str) -> AlertRecord | Message:
        record = await self.outbox.latest(fingerprint)
        if record is None:
            return Message(
                text="The bot has no record of this alert any more.",
                ephemeral=True,
                outcome="not_found",
            )
        return record

    async def quick_silence(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """Silence 1 h / 24 h: `arg` is `<fingerprint>:<duration>`."""
        fingerprint, _, duration = arg.partition(":")
        seconds = QUICK.get(duration)
        if seconds is None:
            return Message(text="This button is not valid.", ephemeral=True, outcome="usage")
        return await self._silence(actor, fingerprint, seconds, "")

    async def form_silence(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """Silence for a duration and comment typed into the form."""
        try:
            seconds = parse_duration(str(form.get("duration", "")))
        except DurationError as exc:
            return Message(text=f"{exc}.", ephemeral=True, outcome="usage")
        return await self._silence(actor, arg, seconds, str(form.get("comment") or ""))

    async def _silence(
        self, actor: Actor, fingerprint: str, seconds: float, comment: str
    ) -> Message:
        record = await self._record(fingerprint)
        if isinstance(record, Message):
            return record
        alert = alert_from_json(record.alert)
        now = self.clock()
        matchers = matchers_for(alert.labels)
        try:
            silence_id = await self.alertmanager.create_silence(
                matchers,
                now,
                now + seconds,
                created_by=actor.name,
                comment=comment or f"silenced from Discord by {actor.name}",
            )
        except AlertmanagerUnavailable as exc:
            return _unavailable(exc)
        await self.outbox.annotate(
            record.fingerprint,
            record.starts_at,
            silence_id=silence_id,
            silenced_by=actor.name,
            silenced_until=now + seconds,
        )
        self.wake()
        return Message(
            text=(
                f"Silenced {alert.name} on {alert.host} for {format_duration(seconds)} "
                f"(until <t:{int(now + seconds)}:f>), silence {silence_id}."
            ),
            ephemeral=True,
        )

    async def unsilence(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """Expire the silence this alert's message shows."""
        record = await self._record(arg)
        if isinstance(record, Message):
            return record
        if not record.silence_id:
            return Message(text="This alert is not silenced from here.", ephemeral=True,
                           outcome="not_found")  # fmt: skip
        try:
            await self.alertmanager.expire_silence(record.silence_id)
        except KeyError:
            pass  # expired already (by its end, or in Alertmanager's UI): only the note is left
        except AlertmanagerUnavailable as exc:
            return _unavailable(exc)
        await self.outbox.annotate(
            record.fingerprint, record.starts_at, silence_id="", silenced_by="",
            silenced_until=None,
        )  # fmt: skip
        self.wake()
        return Message(text=f"Silence {record.silence_id} expired.", ephemeral=True)

    async def ack(self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]) -> Message:
        """Note on the message who took the alert."""
        record = await self._record(arg)
        if isinstance(record, Message):
            return record
        if record.acked_by:
            return Message(text=f"Already acknowledged by {record.acked_by}.", ephemeral=True)
        await self.outbox.annotate(
            record.fingerprint, record.starts_at, acked_by=actor.name, acked_at=self.clock()
        )
        self.wake()
        alert = alert_from_json(record.alert)
        return Message(text=f"Acknowledged {alert.name} on {alert.host}.", ephemeral=True)

    async def graph(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """The alert's expression over the last hour, as a PNG."""
        record = await self._record(arg)
        if isinstance(record, Message):
            return record
        alert = alert_from_json(record.alert)
        if self.grapher is None:
            return Message(text="Graphs are not available here.", ephemeral=True,
                           outcome="unavailable")  # fmt: skip
        try:
            image = await self.grapher.image(alert, self.clock())
        except MetricsUnavailable as exc:
            return Message(text=f"No graph: {exc}", ephemeral=True, outcome="unavailable")
        if image is None:
            return Message(text="This alert carries no expression to draw.", ephemeral=True,
                           outcome="not_found")  # fmt: skip
        return Message(
            embeds=(Embed(title=f"{alert.name} on {alert.host}", image=image.filename),),
            images=(image,),
            ephemeral=True,
        )

    async def pick(
        self, actor: Actor, arg: str, values: list[str], form: dict[str, Any]
    ) -> Message:
        """One alert of a packed message, with its buttons, for the one who picked it."""
        if not values:
            return Message(text="Pick an alert.", ephemeral=True, outcome="usage")
        record = await self._record(values[0])
        if isinstance(record, Message):
            return record
        card = card_of(record)
        return Message(
            embeds=(card_embed(card, self.clock()),),
            rows=tuple(card_buttons(card)),
            ephemeral=True,
        )


def matchers_for(labels: Mapping[str, str]) -> list[SilenceMatcher]:
    """Equality matchers on every label: the silence Alertmanager's UI makes for one alert."""
    return [SilenceMatcher(k, v) for k, v in sorted(labels.items()) if v]


def _alert_line(a: ActiveAlert) -> str:
    name = escape(a.labels.get("alertname", "?"))
    host = escape(a.labels.get("host") or a.labels.get("instance", ""))
    summary = escape(a.annotations.get("summary", ""))
    state = "" if a.state == "active" else f" ({'silenced' if a.silenced_by else a.state})"
    severity = a.labels.get("severity", "")
    return f"**{name}** {host} [{severity}]{state} since <t:{int(a.starts_at)}:R>: {summary}"


def _silence_field(s: Silence) -> Field:
    matchers = ", ".join(_matcher_text(m) for m in s.matchers)
    when = (
        f"until <t:{int(s.ends_at)}:f>" if s.state == "active" else f"from <t:{int(s.starts_at)}:f>"
    )
    return Field(
        name=f"{s.id} ({s.state})",
        value=escape(f"{matchers}\n{when} by {s.created_by}: {s.comment}"),
    )


def _matcher_text(m: SilenceMatcher) -> str:
    op = ("=" if m.is_equal else "!=") if not m.is_regex else ("=~" if m.is_equal else "!~")
    return f'{m.name}{op}"{m.value}"'


def _unavailable(exc: AlertmanagerUnavailable) -> Message:
    return Message(text=f"{exc}", ephemeral=True, outcome="unavailable")


__all__: Sequence[str] = ("AlertsService", "matchers_for")
