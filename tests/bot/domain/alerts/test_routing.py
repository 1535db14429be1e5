"""Routing as data: Alertmanager's matcher semantics, first match wins, pings and quiet hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.alerts.routing import (
    Destination,
    Matcher,
    MatcherError,
    QuietHours,
    Route,
    parse_matcher,
    pings,
    route,
)


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ('severity!="critical"', {"severity": "warning"}, True),
        ('severity!="critical"', {}, True),
        ('instance=~"nas.*"', {"instance": "nas:9100"}, True),
        ('instance=~"nas"', {"instance": "nas:9100"}, False),  # anchored, as Alertmanager's
        ('instance!~"nas.*"', {"instance": "pi:9100"}, True),
        ('team=""', {}, True),  # a missing label matches the empty string
        ("severity=critical", {"severity": "critical"}, True),  # unquoted value
        ('summary="say \\"hi\\""', {"summary": 'say "hi"'}, True),
    ],
)
def test_matchers_follow_alertmanager(text: str, labels: dict[str, str], hit: bool) -> None:
    """=, !=, =~ and !~ behave as in Alertmanager: anchored regexes, missing label is ""."""
    assert parse_matcher(text).matches(labels) is hit


@pytest.mark.parametrize("bad", ["severity", "=x", 'a=~"("', 'a="x', "1a=b"])
def test_bad_matchers_are_refused_with_the_text(bad: str) -> None:
    """An unparsable matcher raises MatcherError quoting it."""
    with pytest.raises(MatcherError) as err:
        parse_matcher(bad)
    assert repr(bad) in str(err.value)


def test_matcher_prints_in_alertmanager_syntax() -> None:
    """str() of a matcher parses back to the same matcher."""
    m = Matcher("summary", "=", 'a"b\\c')
    assert parse_matcher(str(m)) == m


def test_first_matching_route_wins_else_default() -> None:
    """Routes are tried in order; an alert no route takes goes to the default."""
    routes = (
        Route((parse_matcher('severity="critical"'),), Destination(channel_id=1)),
        Route((parse_matcher('instance=~"nas.*"'),), Destination(channel_id=2)),
    )
    default = Destination(channel_id=9)
    assert route({"severity": "critical", "instance": "nas:1"}, routes, default).channel_id == 1
    assert route({"severity": "warning", "instance": "nas:1"}, routes, default).channel_id == 2
    assert route({"severity": "warning", "instance": "pi:1"}, routes, default) == default


def test_destination_keys_name_no_secret() -> None:
    """A webhook destination is named by its file, never its URL."""
    assert Destination(webhook_url_file="/etc/x").key == "webhook:/etc/x"
    assert Destination(channel_id=5).key == "channel:5"
    assert Destination().key == "console"


def _at(hour: int, minute: int = 0, tz: str = "Europe/Berlin") -> float:
    return datetime(2026, 12, 3, hour, minute, tzinfo=ZoneInfo(tz)).timestamp()


def test_quiet_hours_span_midnight_in_their_time_zone() -> None:
    """22:00-07:00 Berlin time is quiet at 23:30 and 06:59 there, not at 07:00 or 21:59."""
    quiet = QuietHours.parse("22:00", "07:00", "Europe/Berlin")
    assert quiet.active(_at(23, 30)) and quiet.active(_at(6, 59))
    assert not quiet.active(_at(7, 0)) and not quiet.active(_at(21, 59))
    assert not QuietHours.parse("", "").active(_at(3))


def test_only_critical_pings_in_quiet_hours_and_only_allowed_roles() -> None:
    """Warnings stay silent at night; a role outside allowed_ping_role_ids never pings."""
    roles = {"critical": (1, 2), "warning": (3,)}
    quiet = QuietHours.parse("22:00", "07:00", "Europe/Berlin")
    assert pings("warning", roles, quiet, _at(12), allowed=(1, 2, 3)) == (3,)
    assert pings("warning", roles, quiet, _at(23), allowed=(1, 2, 3)) == ()
    assert pings("critical", roles, quiet, _at(23), allowed=(1,)) == (1,)
    assert pings("info", roles, quiet, _at(12), allowed=(1, 2, 3)) == ()
