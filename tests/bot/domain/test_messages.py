"""The message model: every Discord limit is enforced, and splitting loses nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.commands import AUDIT_VERIFY_BUTTON, STATUS_REFRESH
from bot.domain.messages import (
    CONTINUATION,
    Button,
    Embed,
    Field,
    Image,
    Limits,
    LinkButton,
    Message,
    MessageError,
    Select,
    SelectOption,
    chunk_text,
    ensure_valid,
    flatten_text,
    is_link_url,
    split,
    validate,
)
from bot.domain.permissions import Role


def _btn(i: int) -> Button:
    return Button(STATUS_REFRESH.custom_id(str(i)), "go", Role.VIEWER)


def _link(i: int) -> LinkButton:
    return LinkButton(f"https://grafana.example/d/{i}?orgId=1#panel", f"link {i}")


def _select() -> Select:
    return Select("hs:alert.pick:", (SelectOption("a", "a"),), Role.VIEWER)


@pytest.mark.parametrize(
    ("msg", "needle"),
    [
        (Message(), "empty"),
        (Message(text="x" * 2001), "text has 2001"),
        (Message(embeds=(Embed(title="t"),) * 11), "11 embeds"),
        (Message(embeds=(Embed(description="d" * 4000), Embed(description="d" * 2001))), "6001"),
        (Message(embeds=(Embed(title="t" * 257),)), "title has 257"),
        (Message(embeds=(Embed(description="d" * 4097),)), "description has 4097"),
        (Message(embeds=(Embed(fields=(Field("n", "v"),) * 26),)), "26 fields"),
        (Message(embeds=(Embed(fields=(Field("n" * 257, "v"),)),)), "name has 257"),
        (Message(embeds=(Embed(fields=(Field("n", "v" * 1025),)),)), "value has 1025"),
        (Message(embeds=(Embed(fields=(Field("", "v"),)),)), "empty name"),
        (Message(embeds=(Embed(footer="f" * 2049),)), "footer has 2049"),
        (Message(images=(Image("a.png", b"x" * (Limits.FILE_BYTES + 1)),)), "bytes (limit"),
        (Message(images=tuple(Image(f"{i}.png", b"x") for i in range(11))), "11 images"),
        (Message(embeds=(Embed(image="missing.png"),)), "not attached"),
        (Message(rows=((_btn(1),),) * 6), "6 action rows"),
        (Message(rows=(tuple(_btn(i) for i in range(6)),)), "6 buttons"),
        (Message(rows=((Button("x" * 101, "go", Role.VIEWER),),)), "custom_id"),
        (Message(rows=((Button("hl:nowhere:", "go", Role.VIEWER),),)), "no catalogued"),
        (
            Message(rows=((Button(AUDIT_VERIFY_BUTTON.custom_id(), "go", Role.VIEWER),),)),
            "declares viewer but its route needs admin",
        ),
        (Message(rows=((_btn(1), _btn(1)),)), "used twice"),
        (Message(rows=((LinkButton("javascript:alert(1)", "x"),),)), "not an http(s) URL"),
        (Message(rows=((LinkButton("https://", "x"),),)), "not an http(s) URL"),
        (Message(rows=((LinkButton("https://a b/", "x"),),)), "not an http(s) URL"),
        (Message(rows=((LinkButton("https://u:p@host/", "x"),),)), "not an http(s) URL"),
        (Message(rows=((LinkButton("https://h/" + "x" * 503, "x"),),)), "url has 513"),
        (Message(rows=((LinkButton("https://h/", ""),),)), "label must have 1 to 80"),
        (Message(rows=((LinkButton("https://h/", "x" * 81),),)), "label must have 1 to 80"),
        (
            Message(rows=((*(_btn(i) for i in range(3)), *(_link(i) for i in range(3))),)),
            "6 buttons",
        ),
        (Message(rows=((_link(1), _select()),)), "must be alone"),
        (
            Message(rows=((Select("hl:s:", (SelectOption("a", "a"),), Role.VIEWER), _btn(1)),)),
            "alone in its row",
        ),
        (Message(rows=((Select("hl:s:", (), Role.VIEWER),),)), "1 to 25 options"),
        (Message(embeds=(Embed(title="t", colour=0x1000000),)), "24-bit"),
    ],
)
def test_validator_names_each_broken_limit(msg: Message, needle: str) -> None:
    """Each limit of the field notes' table is reported with a sentence naming it."""
    problems = validate(msg)
    assert any(needle in p for p in problems), problems
    with pytest.raises(MessageError):
        ensure_valid(msg)


def test_validator_accepts_a_message_at_every_limit() -> None:
    """A message exactly at the limits is valid."""
    msg = Message(
        text="x" * 2000,
        embeds=(Embed(title="t" * 256, description="d" * 4096, footer="f" * 1648),),
        images=(Image("a.png", b"x" * Limits.FILE_BYTES),),
        rows=tuple(tuple(_btn(r * 5 + c) for c in range(5)) for r in range(5)),
    )
    assert validate(msg) == []


def test_link_buttons_share_rows_with_buttons_and_need_no_route() -> None:
    """A link button has no custom id and no permission; it only fills a place in a row."""
    msg = Message(
        text="x",
        rows=((_btn(1), _link(1), _link(1)), (LinkButton("HTTP://[::1]:3000/d", "local"),)),
    )
    assert validate(msg) == []
    assert is_link_url("https://h/" + "x" * 502) and not is_link_url("https://h/" + "x" * 503)
    assert not is_link_url("ftp://h/") and not is_link_url("")


def test_chunk_text_prefers_line_breaks() -> None:
    """Text is cut after a newline when one lies in the second half of a piece."""
    text = ("a" * 15 + "\n") * 3
    assert chunk_text(text, 40) == ["a" * 15 + "\n" + "a" * 15 + "\n", "a" * 15 + "\n"]


def test_split_keeps_a_valid_message_as_is() -> None:
    """A valid message is returned unchanged."""
    msg = Message(text="hi")
    assert split(msg) == [msg]


def test_split_long_field_uses_continuation_fields() -> None:
    """A field over 1024 characters continues in fields with an invisible name."""
    parts = split(Message(embeds=(Embed(fields=(Field("log", "x" * 3000),)),)))
    fields = [f for m in parts for e in m.embeds for f in e.fields]
    assert [f.name for f in fields] == ["log", CONTINUATION, CONTINUATION]
    assert "".join(f.value for f in fields) == "x" * 3000


def test_split_puts_components_and_pings_where_they_belong() -> None:
    """Buttons stay on the last text part; role pings only on the first."""
    msg = Message(text="y" * 4500, rows=((_btn(1),),), ping_role_ids=(5,))
    parts = split(msg)
    assert len(parts) == 3
    assert parts[0].ping_role_ids == (5,) and parts[1].ping_role_ids == ()
    assert parts[-1].rows == ((_btn(1),),) and not parts[0].rows


def test_split_refuses_an_image_over_the_file_limit() -> None:
    """An image over 10 MiB cannot be split, and the error says so."""
    with pytest.raises(MessageError, match=r"big\.png"):
        split(Message(images=(Image("big.png", b"x" * (Limits.FILE_BYTES + 1)),)))


_text = st.text(
    alphabet=st.characters(blacklist_characters=CONTINUATION, blacklist_categories=("Cs",)),
    max_size=3000,
)
_nonempty = _text.filter(bool)
_fields = st.lists(
    st.builds(
        Field,
        st.text(min_size=1, max_size=300).filter(lambda s: CONTINUATION not in s),
        _nonempty.map(lambda s: s * 2),
    ),
    max_size=40,
)
_embeds = st.lists(
    st.builds(
        Embed,
        title=st.text(max_size=400).filter(lambda s: CONTINUATION not in s),
        description=_text.map(lambda s: s * 3),
        fields=_fields.map(tuple),
        colour=st.none() | st.integers(0, 0xFFFFFF),
        footer=st.text(max_size=2500).filter(lambda s: CONTINUATION not in s),
    ).filter(lambda e: not e.is_empty()),
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_text.map(lambda s: s * 3),
    embeds=_embeds,
    buttons=st.integers(0, 30),
    links=st.sets(st.integers(0, 30)),
)
def test_split_yields_valid_messages_and_loses_no_text(
    text: str, embeds: list[Embed], buttons: int, links: set[int]
) -> None:
    """Any oversized message splits into valid messages holding all its text, in order."""
    rows = tuple(
        tuple(
            _link(n) if n in links else _btn(n)
            for n in (r * 5 + c for c in range(min(5, buttons - r * 5)))
        )
        for r in range((buttons + 4) // 5)
    )
    msg = Message(text=text, embeds=tuple(embeds), rows=rows, outcome="not_found")
    if not (text or embeds or rows):
        return
    parts = split(msg)
    assert {p.outcome for p in parts} == {"not_found"}  # every part says how the command ended
    for part in parts:
        assert validate(part) == []
    assert flatten_text(parts) == flatten_text([msg])
    assert [c for p in parts for c in p.components()] == msg.components()
    colours = [e.colour for p in parts for e in p.embeds]
    assert set(colours) <= {e.colour for e in embeds}
