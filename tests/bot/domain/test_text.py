"""Outside text: escaped for Discord markdown, made plain and printable for a terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.text import escape, plain, printable, timestamps


def test_numbered_lists_are_neutralised() -> None:
    """'1. item' at the start of any line is not rendered as an ordered list."""
    assert escape("1. first\n  22. second") == "1\\. first\n  22\\. second"
    assert escape("version 1.2 and 3.14") == "version 1.2 and 3.14"  # no list, left alone


def test_plain_undoes_the_escapes() -> None:
    """The console shows escaped outside text as it was."""
    for text in ("1. first\n2. second", "a\\.b *c* 3. x", "@everyone"):
        assert plain(escape(text)).replace("@\u200b", "@") == text


@given(st.text())
def test_printable_leaves_no_control_characters(text: str) -> None:
    """Whatever comes in, printable() keeps only newline and tab of the control characters."""
    out = printable(text)
    assert all(c in "\n\t" or not (ord(c) < 32 or 0x7F <= ord(c) <= 0x9F) for c in out)
    assert "\x1b" not in out


def test_counted_picks_singular_or_plural() -> None:
    """1 takes the singular, every other number the plural, -y nouns become -ies."""
    from bot.domain.text import counted

    assert [counted(n, "host") for n in (0, 1, 2)] == ["0 hosts", "1 host", "2 hosts"]
    assert [counted(n, "entry") for n in (1, 3)] == ["1 entry", "3 entries"]
    assert counted(2, "index", "indices") == "2 indices"


def test_defang_breaks_mentions_and_leaves_markdown() -> None:
    """Plain-text places (select labels) get mentions broken but no backslashes."""
    from bot.domain.text import defang

    assert defang("@everyone *x* <@&5> <@6> <#7>") == (
        "@\u200beveryone *x* <@&\u200b5> <@\u200b6> <#\u200b7>"
    )


def test_discord_timestamps_read_as_utc_and_relative_times() -> None:
    """`<t:N:f>` reads as a UTC time, `<t:N:R>` as a span against now, in either direction."""
    at = 1796305209  # 2026-12-03 13:40:09 UTC
    assert timestamps(f"Started: <t:{at}:f> (<t:{at}:R>)", at + 330) == (
        "Started: 2026-12-03 13:40 UTC (5m ago)"
    )
    assert timestamps(f"until <t:{at}:F>, <t:{at}:R>", at - 7200) == (
        "until 2026-12-03 13:40:09 UTC, in 2h"
    )
    assert timestamps(f"<t:{at}>|<t:{at}:d>|<t:{at}:t>|<t:{at}:R>", at + 3) == (
        "2026-12-03 13:40 UTC|2026-12-03|13:40 UTC|3s ago"
    )
    assert timestamps("<t:abc:R> <@123>", at) == "<t:abc:R> <@123>"
