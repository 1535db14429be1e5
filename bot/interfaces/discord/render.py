"""The one renderer: a domain Message -> the keyword arguments discord.py sends.

Every message is split (and so validated) first; mentions are off except the allowed roles.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import discord

from bot.domain.messages import (
    Button,
    ButtonStyle,
    Limits,
    LinkButton,
    Message,
    MessageError,
    Select,
    split,
)

log = logging.getLogger(__name__)

_STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}


class InertView(discord.ui.View):
    """Components only: clicks are routed by custom id to dynamic items, never to this view."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    def is_dispatchable(self) -> bool:
        """Never stored by discord.py: the dynamic items handle every click."""
        return False


@dataclass(frozen=True, slots=True)
class Rendered:
    """One Discord message ready to send."""

    content: str | None
    embeds: list[discord.Embed]
    files: list[discord.File]
    view: discord.ui.View | None
    allowed_mentions: discord.AllowedMentions
    ephemeral: bool

    def kwargs(self, *, interaction: bool = True) -> dict[str, Any]:
        """Keyword arguments for send_message/followup.send (or channel.send)."""
        out: dict[str, Any] = {
            "content": self.content,
            "embeds": self.embeds,
            "files": self.files,
            "allowed_mentions": self.allowed_mentions,
        }
        if self.view is not None:
            out["view"] = self.view
        if interaction:
            out["ephemeral"] = self.ephemeral
        return out


def allowed_mentions(msg: Message, allowed_role_ids: Iterable[int]) -> discord.AllowedMentions:
    """No @everyone, no users, no replies; only roles both the message and settings name."""
    allowed = set(allowed_role_ids)
    roles = [discord.Object(r) for r in msg.ping_role_ids if r in allowed]
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def with_pings(msg: Message, allowed_role_ids: Iterable[int]) -> Message:
    """`msg` with a mention of each allowed role it pings put in front of its text.

    The mentions become part of the text before splitting, so the splitter counts them
    against Discord's 2000 characters like any other text.
    """
    allowed = set(allowed_role_ids)
    pings = [r for r in msg.ping_role_ids if r in allowed]
    if not pings:
        return msg
    mentions = " ".join(f"<@&{r}>" for r in pings)
    return replace(msg, text=mentions + (" " + msg.text if msg.text else ""))


def render(msg: Message, allowed_role_ids: Iterable[int] = ()) -> list[Rendered]:
    """Put the allowed pings in, then split, validate and convert into Discord messages."""
    allowed = list(allowed_role_ids)
    out: list[Rendered] = []
    for part in split(with_pings(msg, allowed)):
        out.append(
            Rendered(
                content=part.text or None,
                embeds=[_embed(e) for e in part.embeds],
                files=[
                    discord.File(
                        io.BytesIO(i.data), filename=i.filename, description=i.description or None
                    )
                    for i in part.images
                ],
                view=_view(part) if part.rows else None,
                allowed_mentions=allowed_mentions(part, allowed),
                ephemeral=part.ephemeral,
            )
        )
    for r in out:  # what is sent, re-checked: nothing may be added after the split
        if r.content is not None and len(r.content) > Limits.CONTENT:
            raise MessageError(
                [f"content has {len(r.content)} characters (limit {Limits.CONTENT})"]
            )
    return out


def _embed(e: Any) -> discord.Embed:
    embed = discord.Embed(
        title=e.title or None,
        description=e.description or None,
        colour=e.colour,
    )
    for f in e.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if e.footer:
        embed.set_footer(text=e.footer)
    if e.image:
        embed.set_image(url=f"attachment://{e.image}")
    return embed


def _view(msg: Message) -> discord.ui.View:
    view = InertView()
    for r, row in enumerate(msg.rows):
        for c in row:
            item: discord.ui.Item[Any]
            if isinstance(c, Button):
                item = discord.ui.Button(
                    custom_id=c.custom_id,
                    label=c.label,
                    style=_STYLES[c.style],
                    disabled=c.disabled,
                    row=r,
                )
            elif isinstance(c, LinkButton):
                # A link button opens its URL; Discord sends no click, so it has no custom id.
                item = discord.ui.Button(
                    url=c.url, label=c.label, style=discord.ButtonStyle.link, row=r
                )
            elif isinstance(c, Select):
                item = discord.ui.Select(
                    custom_id=c.custom_id,
                    placeholder=c.placeholder or None,
                    min_values=c.min_values,
                    max_values=c.max_values,
                    options=[
                        discord.SelectOption(
                            label=o.label, value=o.value, description=o.description or None
                        )
                        for o in c.options
                    ],
                    row=r,
                )
            view.add_item(item)
    return view
