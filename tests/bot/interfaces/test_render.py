"""The renderer: no mentions unless allowed, embeds and files converted, long messages split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.messages import Button, Embed, Field, Image, Limits, LinkButton, Message
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


def test_link_buttons_render_as_url_buttons() -> None:
    """A link button becomes a link-style discord.py button with its URL and no custom id."""
    msg = Message(
        text="t",
        rows=(
            (
                Button("hl:status.refresh:", "Refresh", Role.VIEWER),
                LinkButton("https://example.org/runbook#cpu", "Runbook"),
            ),
        ),
    )
    (part,) = render(msg)
    assert part.view is not None
    refresh, link = part.view.children
    assert isinstance(link, discord.ui.Button)
    assert link.url == "https://example.org/runbook#cpu" and link.label == "Runbook"
    assert link.style is discord.ButtonStyle.link and link.custom_id is None
    assert refresh.row == link.row == 0
    comp = part.view.to_components()[0]["components"][1]
    assert comp["url"] == "https://example.org/runbook#cpu" and "custom_id" not in comp


def test_oversized_message_is_split_before_sending() -> None:
    """A 4500-character text becomes three Discord messages."""
    parts = render(Message(text="z" * 4500))
    assert [len(p.content or "") for p in parts] == [2000, 2000, 500]


SNOWFLAKES = st.integers(min_value=10**16, max_value=2**63 - 1)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab \n"), max_size=4500),
    pings=st.lists(SNOWFLAKES, max_size=6, unique=True),
    embed=st.booleans(),
)
def test_pings_never_push_content_past_the_limit(text: str, pings: list[int], embed: bool) -> None:
    """With role pings, every rendered content stays within 2000 characters and none is lost."""
    msg = Message(
        text=text, embeds=(Embed(title="t"),) if embed else (), ping_role_ids=tuple(pings)
    )
    if not text and not embed and not pings:
        return
    parts = render(msg, allowed_role_ids=pings)
    contents = [p.content or "" for p in parts]
    assert all(len(c) <= Limits.CONTENT for c in contents)
    mentions = " ".join(f"<@&{r}>" for r in pings)
    expected = mentions + (" " + text if text and mentions else text)
    assert "".join(contents) == expected
    if pings:
        assert contents[0].startswith(mentions)
        assert parts[0].allowed_mentions.to_dict()["roles"] == pings


def test_a_full_message_with_a_ping_is_split_not_overlong() -> None:
    """A 2000-character text plus a ping becomes two messages, the ping in the first."""
    parts = render(Message(text="y" * 2000, ping_role_ids=(5,)), allowed_role_ids=[5])
    assert [len(p.content or "") for p in parts] == [2000, 6]
    assert parts[0].content is not None and parts[0].content.startswith("<@&5> ")


def test_an_alert_message_renders_without_live_mentions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alert text full of mentions: defanged content and embeds, only the routed role pings."""
    from bot.domain import commands
    from bot.domain.alerts.format import AlertCard, alert_message
    from bot.domain.alerts.model import AlertContext, parse_notification
    from bot.domain.catalogue import alerts as part

    # The alert part joins PARTS with its handlers (branch alerts); until then, given here.
    missing = tuple(c for c in part.COMPONENTS if commands.component(c.route) is None)
    monkeypatch.setattr(commands, "COMPONENTS", (*commands.COMPONENTS, *missing))
    doc = json.loads((Path(__file__).parents[2] / "fixtures/alertmanager/firing.json").read_text())
    evil = "@everyone @here <@&5> <@42>"
    doc["alerts"][0]["labels"]["host"] = evil
    doc["alerts"][0]["annotations"]["summary"] = evil
    n = parse_notification(doc)
    card = AlertCard(n.alerts[0], AlertContext(n.external_url, n.receiver, n.group_key))
    (out,) = render(alert_message([card], pings=(7002,), now=0.0), allowed_role_ids=[7002])
    assert out.allowed_mentions.to_dict() == {"parse": [], "roles": [7002]}
    assert out.content is not None and out.content.startswith("<@&7002> [FIRING:1] HostHighCpu")
    shown = [out.content, *(json.dumps(e.to_dict()) for e in out.embeds)]
    assert not any(
        re.search(r"@(everyone|here)|<@&?\d+>", s.replace("<@&7002>", "")) for s in shown
    )
    assert out.view is not None
    links = [i for i in out.view.children if isinstance(i, discord.ui.Button) and i.url]
    assert [b.label for b in links] == ["Runbook", "Alertmanager", "Source"]
