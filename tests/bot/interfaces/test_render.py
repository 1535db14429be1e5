"""The renderer: no mentions unless allowed, embeds and files converted, long messages split."""

from __future__ import annotations

from bot.domain.messages import Button, Embed, Field, Image, Message
from bot.domain.permissions import Role
from bot.interfaces.discord.render import render


def test_no_mentions_are_allowed_by_default() -> None:
    """@everyone, users and unlisted roles never ping; only the configured role may."""
    msg = Message(text="@everyone <@1> <@&5> <@&6>", ping_role_ids=(5, 6))
    (part,) = render(msg, allowed_role_ids=[5])
    am = part.allowed_mentions.to_dict()
    assert am == {"parse": [], "roles": [5]}
    assert part.content is not None and part.content.startswith("<@&5> ")


def test_embeds_files_and_buttons_are_converted() -> None:
    """Fields, colour, footer, the attached image and the button's custom id survive rendering."""
    msg = Message(
        embeds=(Embed("t", "d", (Field("a", "b", True),), 0x123456, "foot", image="c.png"),),
        images=(Image("c.png", b"\x89PNG"),),
        rows=((Button("hl:status.refresh:", "Refresh", Role.VIEWER),),),
    )
    (part,) = render(msg)
    e = part.embeds[0].to_dict()
    assert e["fields"] == [{"name": "a", "value": "b", "inline": True}]
    assert e["color"] == 0x123456 and e["footer"]["text"] == "foot"
    assert e["image"]["url"] == "attachment://c.png" and part.files[0].filename == "c.png"
    assert part.view is not None and not part.view.is_dispatchable()
    assert [i.custom_id for i in part.view.children] == ["hl:status.refresh:"]  # type: ignore[attr-defined]


def test_oversized_message_is_split_before_sending() -> None:
    """A 4500-character text becomes three Discord messages."""
    parts = render(Message(text="z" * 4500))
    assert [len(p.content or "") for p in parts] == [2000, 2000, 500]
