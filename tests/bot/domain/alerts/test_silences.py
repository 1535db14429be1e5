"""Silence durations as people type them."""

from __future__ import annotations

import pytest

from bot.domain.alerts.silences import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("3d", 259200),
                          ("1w", 604800), (" 2H ", 7200), ("1h 30m", 5400)],
)  # fmt: skip
def test_durations_parse(text: str, seconds: float) -> None:
    """Number+unit parts add up."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "90", "m", "2x", "1h-", "30s", "91d", "-1h"])
def test_bad_or_out_of_bounds_durations_say_what_to_type(bad: str) -> None:
    """Unreadable, under a minute or over 90 days: an error that shows the form."""
    with pytest.raises(DurationError, match=r"90m|between 1m and 90d"):
        parse_duration(bad)


def test_durations_print_with_two_units() -> None:
    """The two largest units, so a silence's length reads at a glance."""
    assert format_duration(5400) == "1h 30m"
    assert format_duration(45) == "45s"
    assert format_duration(200000) == "2d 7h"
