"""Alert messages: one embed per alert, its buttons and links, packed within Discord's limits.

Alert text (labels, annotations) is untrusted: it is escaped, so `@everyone` or `<@&id>` in an
annotation shows as text and never pings; pings come only from `Message.ping_role_ids`.
Nothing is cut short here: a long description is left to the core's splitter.

Example::

    card = AlertCard(alert, AlertContext("http://am:9093", "homelab-bot", key))
    msg = alert_message([card], pings=(7002,), now=time.time())
    msg.text                 # '[FIRING:1] HostHighCpu nas:9100'
    msg.embeds[0].title      # '[FIRING] HostHighCpu on nas:9100'
    for group in pack(cards, now):          # 500 alerts -> 50 messages
        send(alert_message(group, now=now))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.domain.alerts.model import Alert, AlertContext, expr_of
from bot.domain.catalogue import alerts as catalog
from bot.domain.catalogue import projects as project_catalog
from bot.domain.messages import (
    Button,
    ButtonStyle,
    Component,
    Embed,
    Field,
    Limits,
    LinkButton,
    Message,
    Row,
    Select,
    SelectOption,
    is_link_url,
    split_embed,
)
from bot.domain.text import defang, escape

log = logging.getLogger(__name__)

RED = 0xE74C3C
AMBER = 0xF39C12
BLUE = 0x3498DB
GREEN = 0x2ECC71
GREY = 0x95A5A6

SEVERITY_COLOURS = {"critical": RED, "warning": AMBER, "info": BLUE}

# The quick silences on every firing alert (the form takes any other duration).
QUICK_SILENCES = ("1h", "24h")

# Annotations shown as their own fields, and the labels listed first.
_VALUE_FIELDS = (("value", "Value"), ("threshold", "Threshold"))
_FIRST_LABELS = ("alertname", "severity")


@dataclass(frozen=True, slots=True)
class AlertCard:
    """An alert as the bot shows it: the alert, where it came from, and what people did.

    `acked_by` and `silenced_by` are display names (shown escaped); times are Unix seconds.
    """

    alert: Alert
    context: AlertContext = field(default_factory=AlertContext)
    acked_by: str = ""
    acked_at: float | None = None
    silenced_by: str = ""
    silenced_until: float | None = None
    silence_id: str = ""
    resolved_at: float | None = None

    @property
    def resolved(self) -> bool:
        """Whether the alert has resolved (Alertmanager said so, or the bot recorded it)."""
        return self.alert.status == "resolved" or self.resolved_at is not None

    @property
    def acked(self) -> bool:
        """Whether someone acknowledged the alert."""
        return bool(self.acked_by) or self.acked_at is not None

    def silenced(self, now: float | None = None) -> bool:
        """Whether a silence from the bot holds the alert (at `now`, when given)."""
        if not self.silence_id and self.silenced_until is None:
            return False
        return now is None or self.silenced_until is None or self.silenced_until > now

    def ended(self) -> float | None:
        """When the alert resolved, as a Unix time, if it has."""
        if not self.resolved:
            return None
        return self.resolved_at if self.resolved_at is not None else self.alert.ends()


# -- one embed per alert ---------------------------------------------------------------------


def colour_of(card: AlertCard) -> int:
    """Green once resolved; otherwise red, amber or blue by severity, grey for other values."""
    if card.resolved:
        return GREEN
    return SEVERITY_COLOURS.get(card.alert.severity, GREY)


def title_of(card: AlertCard) -> str:
    """`[FIRING] HostHighCpu on nas` or `[RESOLVED] ...` (the names escaped)."""
    state = "RESOLVED" if card.resolved else "FIRING"
    a = card.alert
    title = f"[{state}] {escape(a.name or 'unnamed alert')}"
    return title + (f" on {escape(a.host)}" if a.host else "")


def duration(seconds: float) -> str:
    """A short duration: 45s, 12m, 3h 5m, 2d 4h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    minutes, s = divmod(s, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _ts(t: float, style: str = "R") -> str:
    return f"<t:{int(t)}:{style}>"


def _labels_text(labels: Iterable[tuple[str, str]]) -> str:
    items = dict(labels)
    keys = [k for k in _FIRST_LABELS if k in items]
    keys += sorted(k for k in items if k not in _FIRST_LABELS)
    return "\n".join(f"{escape(k)}={escape(items[k])}" for k in keys)


def card_embed(card: AlertCard, now: float) -> Embed:
    """The embed of one alert: state, text, value and threshold, times, who acted, labels."""
    a = card.alert
    notes = a.annotations
    summary, description = notes.get("summary", ""), notes.get("description", "")
    body = [escape(t) for t in (summary, description) if t.strip()]
    if len(body) == 2 and summary.strip() == description.strip():
        body = body[:1]
    fields: list[Field] = []
    for key, name in _VALUE_FIELDS:
        if notes.get(key, "").strip():
            fields.append(Field(name, escape(notes[key]), inline=True))
    starts = a.starts()
    if starts is not None:
        fields.append(Field("Started", f"{_ts(starts, 'f')} ({_ts(starts)})", inline=True))
    if card.resolved:
        ended = card.ended()
        end = ended if ended is not None else now
        lasted = f"Fired for {duration(end - starts)}" if starts is not None else "Resolved"
        fields.append(Field("Resolved", f"{lasted}, ended {_ts(end)}", inline=True))
    if card.acked:
        who = escape(card.acked_by) if card.acked_by else "someone"
        when = f" {_ts(card.acked_at)}" if card.acked_at is not None else ""
        fields.append(Field("Acknowledged", f"by {who}{when}", inline=True))
    if card.silenced(now):
        who = escape(card.silenced_by) if card.silenced_by else "someone"
        text = f"by {who}"
        if card.silenced_until is not None:
            until = card.silenced_until
            text += f" until {_ts(until, 'f')} ({_ts(until)})"
        if card.silence_id:
            text += f", silence {escape(card.silence_id)}"
        fields.append(Field("Silenced", text, inline=False))
    labels = _labels_text(a.labels.items())
    if labels:
        fields.append(Field("Labels", labels))
    return Embed(
        title=title_of(card),
        description="\n\n".join(body),
        fields=tuple(fields),
        colour=colour_of(card),
        footer=f"fingerprint {a.fingerprint}",
    )


# -- buttons and links -----------------------------------------------------------------------

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(text: str) -> str:
    """Percent-encoding for a URL parameter (urllib is outside the domain's imports)."""
    return "".join(chr(b) if chr(b) in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def _matcher(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{escaped}"'


def alertmanager_url(card: AlertCard) -> str | None:
    """Alertmanager's UI filtered to this alert, or None without an http(s) external URL.

    The filter names every label; when that is too long for a link button, alertname and
    instance (or host) only.
    """
    base = card.context.external_url.rstrip("/")
    if not base:
        return None
    labels = card.alert.labels
    every = [_matcher(k, labels[k]) for k in sorted(labels)]
    few = [_matcher(k, labels[k]) for k in ("alertname", "instance", "host") if k in labels]
    for matchers in (every, few):
        url = f"{base}/#/alerts?filter={_quote('{' + ','.join(matchers) + '}')}"
        if is_link_url(url):
            return url
    return None


def link_buttons(card: AlertCard) -> tuple[LinkButton, ...]:
    """Runbook, Alertmanager and Source links, each only when its URL is http(s)."""
    a = card.alert
    candidates = (
        ("Runbook", a.annotations.get("runbook_url", "")),
        ("Alertmanager", alertmanager_url(card) or ""),
        ("Source", a.generator_url),
    )
    return tuple(LinkButton(url, label) for label, url in candidates if is_link_url(url))


def card_buttons(card: AlertCard, now: float | None = None) -> tuple[Row, ...]:
    """The rows of one alert: its actions, then its links.

    Firing: Silence 1h, Silence 24h, Silence... (a form), Ack, Graph; Unsilence in place of
    the silences while silenced; Ack disabled once acked. Resolved: Graph only. Graph only
    when the generator URL carries an expression. A firing alert's second row starts with
    Create task (a project task linked to the alert), then the links.
    """
    fp = card.alert.fingerprint
    actions: list[Component] = []
    if not card.resolved:
        if card.silenced(now):
            actions.append(
                Button(
                    catalog.UNSILENCE.custom_id(fp),
                    "Unsilence",
                    catalog.UNSILENCE.permission,
                    ButtonStyle.DANGER,
                )
            )
        else:
            actions += [
                Button(
                    catalog.SILENCE.custom_id(f"{fp}:{d}"),
                    f"Silence {d}",
                    catalog.SILENCE.permission,
                )
                for d in QUICK_SILENCES
            ]
            actions.append(
                Button(
                    catalog.SILENCE_FORM.custom_id(fp),
                    "Silence\u2026",
                    catalog.SILENCE_FORM.permission,
                )
            )
        actions.append(
            Button(
                catalog.ACK.custom_id(fp),
                "Acked" if card.acked else "Ack",
                catalog.ACK.permission,
                ButtonStyle.SUCCESS,
                disabled=card.acked,
            )
        )
    if expr_of(card.alert.generator_url) is not None:
        actions.append(Button(catalog.GRAPH.custom_id(fp), "Graph", catalog.GRAPH.permission))
    rows: list[Row] = []
    if actions:
        rows.append(tuple(actions))
    # Beside the links (at most three), so a firing alert's five actions keep their row.
    follow_up: list[Component] = []
    if not card.resolved:
        spec = project_catalog.TASK_FROM_ALERT
        follow_up.append(Button(spec.custom_id(fp), "Create task", spec.permission))
    links = (*follow_up, *link_buttons(card))
    if links:
        rows.append(links)
    return tuple(rows)


def _option_text(text: str) -> str:
    """A select option's label: plain text, so only mentions are broken; 100 at most."""
    text = defang(" ".join(text.split()))
    return text if len(text) <= Limits.SELECT_OPTION_TEXT else text[:99] + "\u2026"


def pick_rows(cards: Sequence[AlertCard]) -> tuple[Row, ...]:
    """One `alert.pick` select per 25 alerts: pick one to get its buttons privately."""
    seen: set[str] = set()
    options: list[SelectOption] = []
    for c in cards:
        fp = c.alert.fingerprint
        if fp in seen:
            continue
        seen.add(fp)
        a = c.alert
        state = "resolved" if c.resolved else a.severity
        options.append(
            SelectOption(
                label=_option_text(f"{a.name or 'unnamed alert'} on {a.host}" if a.host else a.name)
                or fp,
                value=fp,
                description=_option_text(f"{state}, fingerprint {fp}"),
            )
        )
    rows: list[Row] = []
    size = Limits.SELECT_OPTIONS
    for n, start in enumerate(range(0, len(options), size)):
        rows.append(
            (
                Select(
                    catalog.PICK.custom_id(str(n) if n else ""),
                    tuple(options[start : start + size]),
                    catalog.PICK.permission,
                    placeholder="Pick an alert for its buttons",
                ),
            )
        )
    return tuple(rows)


# -- the message ----------------------------------------------------------------------------


def _names(values: Iterable[str]) -> str:
    unique = list(dict.fromkeys(v for v in values if v))
    if len(unique) <= 3:
        return ", ".join(escape(v) for v in unique)
    return ", ".join(escape(v) for v in unique[:3]) + f" and {len(unique) - 3} more"


def headline(cards: Sequence[AlertCard]) -> str:
    """`[FIRING:n] alertname host` (n firing), or `[RESOLVED] ...` when every one resolved."""
    firing = [c for c in cards if not c.resolved]
    shown = firing or list(cards)
    state = f"FIRING:{len(firing)}" if firing else "RESOLVED"
    parts = [f"[{state}]", _names(c.alert.name for c in shown), _names(c.alert.host for c in shown)]
    return " ".join(p for p in parts if p)


def alert_message(
    cards: Sequence[AlertCard],
    *,
    pings: Sequence[int] = (),
    buttons: bool = True,
    now: float,
) -> Message:
    """One message for a group of alerts: a headline, an embed per alert, and the controls.

    One alert: its buttons and links. Several: a select that gives one alert's buttons
    privately. `buttons=False` (a plain Discord webhook, which cannot carry components):
    none at all.
    """
    if not cards:
        raise ValueError("alert_message needs at least one alert")
    rows: tuple[Row, ...] = ()
    if buttons:
        rows = card_buttons(cards[0], now) if len(cards) == 1 else pick_rows(cards)
    return Message(
        text=headline(cards),
        embeds=tuple(card_embed(c, now) for c in cards),
        rows=rows,
        ping_role_ids=tuple(dict.fromkeys(pings)),
    )


def _within_embed_limits(e: Embed) -> bool:
    return (
        len(e.title) <= Limits.TITLE
        and len(e.description) <= Limits.DESCRIPTION
        and len(e.footer) <= Limits.FOOTER
        and len(e.fields) <= Limits.FIELDS
        and all(
            len(f.name) <= Limits.FIELD_NAME and len(f.value) <= Limits.FIELD_VALUE
            for f in e.fields
        )
        and e.chars() <= Limits.EMBEDS_TOTAL
    )


def _embed_cost(e: Embed) -> tuple[int, int]:
    """(embeds, characters) of `e` once the splitter has cut it to Discord's limits."""
    if _within_embed_limits(e):
        return 1, e.chars()
    parts = split_embed(e)
    return len(parts), sum(p.chars() for p in parts)


def pack(cards: Sequence[AlertCard], now: float) -> list[list[AlertCard]]:
    """The cards in order, in as few groups as fit one Discord message each.

    A group holds at most 10 embeds and 6000 embed characters (counted as the splitter will
    cut them) and a headline within 2000 characters; a card too big for a message on its own
    is a group of its own, left to the splitter.
    """
    groups: list[list[AlertCard]] = []
    cur: list[AlertCard] = []
    count = chars = 0
    for card in cards:
        n, size = _embed_cost(card_embed(card, now))
        fits_alone = n <= Limits.EMBEDS and size <= Limits.EMBEDS_TOTAL
        fits = (
            fits_alone
            and count + n <= Limits.EMBEDS
            and chars + size <= Limits.EMBEDS_TOTAL
            and len(headline([*cur, card])) <= Limits.CONTENT
        )
        if cur and not fits:
            groups.append(cur)
            cur, count, chars = [], 0, 0
        cur.append(card)
        count, chars = count + n, chars + size
        if not fits_alone:
            groups.append(cur)
            cur, count, chars = [], 0, 0
    if cur:
        groups.append(cur)
    return groups
