"""Alert messages: severity colours, titles, buttons and links, defanged text, packing."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import commands
from bot.domain.alerts.format import (
    AMBER,
    BLUE,
    GREEN,
    GREY,
    RED,
    AlertCard,
    alert_message,
    alertmanager_url,
    card_buttons,
    card_embed,
    duration,
    pack,
)
from bot.domain.alerts.model import Alert, AlertContext, parse_notification, unix_time
from bot.domain.catalogue import alerts as alerts_part
from bot.domain.catalogue import projects as projects_part
from bot.domain.messages import (
    Button,
    LinkButton,
    Message,
    Select,
    flatten_text,
    split,
    validate,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "alertmanager"


@pytest.fixture(autouse=True)
def _alert_components_catalogued(monkeypatch: pytest.MonkeyPatch) -> None:
    """The alert buttons' catalogue part joins PARTS with its handlers (branch alerts); until
    then the validator is given the same part here, so it checks their routes and roles."""
    missing = tuple(c for c in alerts_part.COMPONENTS if commands.component(c.route) is None)
    monkeypatch.setattr(commands, "COMPONENTS", (*commands.COMPONENTS, *missing))


NOW = unix_time("2026-12-03T13:20:00Z") or 0.0
CTX = AlertContext("http://alertmanager:9093", "homelab-bot", '{}:{alertname="HostHighCpu"}')
LIVE_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)\d+>")


def _real(name: str = "firing.json") -> Alert:
    doc = json.loads((FIXTURES / name).read_text())
    return parse_notification(doc).alerts[0]


def _alert(i: int = 0, **changes: Any) -> Alert:
    base = _real()
    labels = {**base.labels, "instance": f"host{i}:9100", **changes.pop("labels", {})}
    return replace(base, labels=labels, fingerprint=f"{i:016x}", **changes)


def _card(i: int = 0, **changes: Any) -> AlertCard:
    return AlertCard(_alert(i), CTX, **changes)


def _texts(msg: Message) -> list[str]:
    out = [msg.text]
    for e in msg.embeds:
        out += [e.title, e.description, e.footer]
        out += [t for f in e.fields for t in (f.name, f.value)]
    for c in msg.components():
        if isinstance(c, Button | LinkButton):
            out.append(c.label)
        elif isinstance(c, Select):
            out += [t for o in c.options for t in (o.label, o.description, o.value)]
    return out


def _labels(row: tuple[object, ...]) -> list[str]:
    return [c.label for c in row if isinstance(c, Button | LinkButton)]


@pytest.mark.parametrize(
    ("severity", "colour"),
    [("critical", RED), ("warning", AMBER), ("info", BLUE), ("none", GREY), ("", AMBER)],
)
def test_firing_colour_follows_severity(severity: str, colour: int) -> None:
    """Critical red, warning amber, info blue; no severity counts as warning."""
    card = AlertCard(_alert(labels={"severity": severity}), CTX)
    assert card_embed(card, NOW).colour == colour


def test_resolved_is_green_and_says_how_long_it_fired() -> None:
    """A resolved alert's embed is green, titled RESOLVED, and says how long it fired."""
    start = "2026-12-03T12:00:00Z"
    alert = replace(_real("resolved.json"), starts_at=start, ends_at="2026-12-03T12:12:30Z")
    embed = card_embed(AlertCard(alert, CTX), NOW)
    assert embed.colour == GREEN
    assert embed.title == "[RESOLVED] HostHighCpu on nas:9100"
    resolved = {f.name: f.value for f in embed.fields}["Resolved"]
    assert resolved.startswith("Fired for 12m, ended <t:")
    recorded = AlertCard(_alert(), CTX, resolved_at=(unix_time(alert.starts_at) or 0) + 7500)
    assert "Fired for" in {f.name: f.value for f in card_embed(recorded, NOW).fields}["Resolved"]


def test_real_fixture_firing_embed() -> None:
    """Title, summary and description, start time, labels with alertname and severity first."""
    embed = card_embed(AlertCard(_real(), CTX), NOW)
    assert embed.title == "[FIRING] HostHighCpu on nas:9100"
    assert embed.description.startswith("nas:9100: CPU 97.3% busy\n\nCPU on nas:9100 has been")
    fields = {f.name: f.value for f in embed.fields}
    started = unix_time("2026-12-03T12:55:05Z")
    assert fields["Started"] == f"<t:{int(started or 0)}:f> (<t:{int(started or 0)}:R>)"
    assert fields["Labels"].splitlines() == [
        "alertname=HostHighCpu",
        "severity=warning",
        "instance=nas:9100",
        "job=homelab\\-exporter",
        "threshold\\_default=0.9",
    ]
    assert "Resolved" not in fields and "Value" not in fields
    assert embed.footer == "fingerprint 4273455f019c5dbf"


def test_value_and_threshold_annotations_get_fields() -> None:
    """Annotations `value` and `threshold` show as their own fields."""
    alert = _alert(annotations={"summary": "s", "value": "97 %", "threshold": "90 %"})
    fields = {f.name: f.value for f in card_embed(AlertCard(alert, CTX), NOW).fields}
    assert (fields["Value"], fields["Threshold"]) == ("97 %", "90 %")


def test_duration_reads_well() -> None:
    """Seconds, minutes, hours and minutes, days and hours."""
    assert [duration(s) for s in (5, 720, 3600, 3900, 90000, 172800)] == [
        "5s",
        "12m",
        "1h",
        "1h 5m",
        "1d 1h",
        "2d",
    ]


def test_ack_and_silence_lines_say_who_and_until_when() -> None:
    """Who acknowledged and when; who silenced, until when, and the silence id."""
    card = _card(
        acked_by="ana",
        acked_at=NOW - 60,
        silenced_by="bo*b",
        silenced_until=NOW + 3600,
        silence_id="8d1f-22",
    )
    fields = {f.name: f.value for f in card_embed(card, NOW).fields}
    assert fields["Acknowledged"] == f"by ana <t:{int(NOW) - 60}:R>"
    assert fields["Silenced"].startswith("by bo\\*b until <t:")
    assert fields["Silenced"].endswith(", silence 8d1f\\-22")
    expired = card_embed(replace(card, silenced_until=NOW - 1), NOW)
    assert "Silenced" not in {f.name for f in expired.fields}


def test_untrusted_text_never_pings_or_renders_as_a_mention() -> None:
    """@everyone, @here, role, user and channel mentions in alert text are broken up."""
    evil = "@everyone @here <@&123456789> <@42> <@!43> <#44>"
    alert = _alert(
        labels={"alertname": f"X{evil}", "host": evil, "team": evil},
        annotations={"summary": evil, "description": evil, "value": evil},
    )
    cards = [AlertCard(alert, CTX), _card(1)]
    for msg in (alert_message(cards[:1], now=NOW), alert_message(cards, now=NOW)):
        for text in _texts(msg):
            assert not LIVE_MENTION.search(text), text
        assert "@\u200beveryone" in msg.embeds[0].description
        assert "<@\u200b42" in msg.embeds[0].description
        assert msg.ping_role_ids == ()
    pinged = alert_message(cards[:1], pings=(7002, 7002), now=NOW)
    assert pinged.ping_role_ids == (7002,)


def test_one_firing_alert_gets_its_buttons_and_links() -> None:
    """Silence 1h, Silence 24h, Silence..., Ack, Graph; then Create task, Runbook,
    Alertmanager, Source."""
    msg = alert_message([AlertCard(_real(), CTX)], now=NOW)
    assert validate(msg) == []
    assert msg.text == "[FIRING:1] HostHighCpu nas:9100"
    actions, links = msg.rows
    assert _labels(actions) == ["Silence 1h", "Silence 24h", "Silence\u2026", "Ack", "Graph"]
    ids = [c.custom_id for c in actions if isinstance(c, Button)]
    assert ids == [
        "hl:alert.silence:4273455f019c5dbf:1h",
        "hl:alert.silence:4273455f019c5dbf:24h",
        "hl:alert.silence_form:4273455f019c5dbf",
        "hl:alert.ack:4273455f019c5dbf",
        "hl:alert.graph:4273455f019c5dbf",
    ]
    assert _labels(links) == ["Create task", "Runbook", "Alertmanager", "Source"]
    assert links[0].custom_id == "hl:task.from_alert:4273455f019c5dbf"  # type: ignore[union-attr]
    urls = [c.url for c in links if isinstance(c, LinkButton)]
    assert urls[0] == "https://github.com/example/homelab/blob/main/docs/runbook.md#hosthighcpu"
    assert urls[1].startswith("http://alertmanager:9093/#/alerts?filter=%7Balertname%3D%22")
    assert urls[2] == _real().generator_url


def test_every_button_declares_its_catalogue_permission() -> None:
    """Each button carries the role of its catalogue entry: operators silence, viewers graph."""
    cards = [_card(0), _card(1, silence_id="s", silenced_until=NOW + 60), _card(2, acked_by="a")]
    specs = {c.route: c for c in (*alerts_part.COMPONENTS, projects_part.TASK_FROM_ALERT)}
    seen = set()
    for card in cards:
        for c in (c for row in card_buttons(card, NOW) for c in row):
            if isinstance(c, Button):
                route = c.custom_id.split(":")[1]
                assert c.permission == specs[route].permission
                seen.add(route)
    ((pick,),) = alert_message(cards, now=NOW).rows
    assert isinstance(pick, Select) and pick.permission == alerts_part.PICK.permission
    assert seen == {"alert.silence", "alert.silence_form", "alert.unsilence", "alert.ack",
                    "alert.graph", "task.from_alert"}  # fmt: skip


def test_silenced_acked_and_resolved_alerts_change_their_buttons() -> None:
    """Unsilence replaces the silences; Ack greys out once acked; resolved keeps Graph only."""
    silenced = card_buttons(_card(silence_id="s1", silenced_until=NOW + 60), NOW)
    assert _labels(silenced[0]) == ["Unsilence", "Ack", "Graph"]
    acked = card_buttons(_card(acked_by="ana"), NOW)
    ack = [c for c in acked[0] if isinstance(c, Button) and c.label == "Acked"]
    assert ack and ack[0].disabled
    resolved = card_buttons(AlertCard(_real("resolved.json"), CTX), NOW)
    assert _labels(resolved[0]) == ["Graph"]
    assert _labels(resolved[1]) == ["Runbook", "Alertmanager", "Source"]
    for rows in (silenced, acked, resolved):
        assert validate(Message(text="x", rows=rows)) == []


def test_links_only_for_http_urls_and_graph_only_with_an_expression() -> None:
    """A relative runbook, no external URL and no g0.expr leave those out."""
    alert = _alert(
        annotations={"summary": "s", "runbook_url": "docs/runbook.md#hosthighcpu"},
        generator_url="javascript:alert(1)",
    )
    rows = card_buttons(AlertCard(alert, AlertContext()), NOW)
    assert len(rows) == 2 and "Graph" not in _labels(rows[0])
    assert _labels(rows[1]) == ["Create task"]  # no links beside it
    resolved = replace(alert, status="resolved")
    assert card_buttons(AlertCard(resolved, AlertContext()), NOW) == ()


def test_alertmanager_link_falls_back_to_a_short_filter() -> None:
    """Labels too long for a 512-character link: the filter keeps alertname and instance."""
    card = AlertCard(_alert(labels={"blob": "x" * 600}), CTX)
    url = alertmanager_url(card)
    assert url is not None and len(url) <= 512 and "blob" not in url and "instance" in url
    assert "%22host0%3A9100%22" in url


def test_several_alerts_share_one_pick_select() -> None:
    """Several alerts: one alert.pick select, one option per alert, value = fingerprint."""
    cards = [_card(i) for i in range(4)] + [AlertCard(_real("resolved.json"), CTX)]
    msg = alert_message(cards, now=NOW)
    assert validate(msg) == []
    assert msg.text == "[FIRING:4] HostHighCpu host0:9100, host1:9100, host2:9100 and 1 more"
    ((select,),) = msg.rows
    assert isinstance(select, Select) and select.custom_id == "hs:alert.pick:"
    assert [o.value for o in select.options] == [c.alert.fingerprint for c in cards]
    assert select.options[0].label == "HostHighCpu on host0:9100"
    assert select.options[-1].description.startswith("resolved")
    assert card_buttons(cards[1], NOW)[0][0].custom_id == "hl:alert.silence:0000000000000001:1h"


def test_all_resolved_headline_and_no_buttons_for_plain_webhooks() -> None:
    """Every alert resolved: [RESOLVED]; buttons=False leaves the rows empty."""
    card = AlertCard(_real("resolved.json"), CTX)
    msg = alert_message([card], buttons=False, now=NOW)
    assert msg.text == "[RESOLVED] HostHighCpu nas:9100" and msg.rows == ()
    assert alert_message([card, _card(1)], buttons=False, now=NOW).rows == ()
    with pytest.raises(ValueError):
        alert_message([], now=NOW)


def test_500_alerts_pack_into_50_valid_messages() -> None:
    """A 500-alert notification: 10 alerts a message, order kept, each message valid."""
    cards = [_card(i) for i in range(500)]
    groups = pack(cards, NOW)
    assert len(groups) == math.ceil(500 / 10)
    assert [c for g in groups for c in g] == cards
    for g in groups:
        assert validate(alert_message(g, pings=(7002,), now=NOW)) == []


def test_big_alerts_take_fewer_per_message_and_a_huge_one_stands_alone() -> None:
    """The 6000-character budget packs big alerts fewer to a message; a huge one is split."""
    big = [AlertCard(_alert(i, annotations={"description": "d" * 2500}), CTX) for i in range(5)]
    huge = AlertCard(_alert(9, annotations={"description": "word " * 3000}), CTX)
    cards = [*big[:2], huge, *big[2:]]
    groups = pack(cards, NOW)
    assert [len(g) for g in groups] == [2, 1, 2, 1]
    for g in groups:
        msg = alert_message(g, now=NOW)
        parts = split(msg)
        assert flatten_text(parts) == flatten_text([msg])
        assert (len(parts) == 1) == (g != [huge])


_untrusted = st.lists(
    st.sampled_from([*'ab \n*_`<>@&!#:="\\', "@everyone", "@here", "<@&12>", "<@3>", "\u200b"]),
    max_size=300,
).map(lambda parts: "".join(parts) * 3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alerts=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["alertname", "host", "severity", "x"]), _untrusted),
            st.dictionaries(st.sampled_from(["summary", "description", "value"]), _untrusted),
            st.booleans(),
        ),
        min_size=1,
        max_size=25,
    ),
    buttons=st.booleans(),
)
def test_every_message_is_valid_or_splits_without_loss(
    alerts: list[tuple[dict[str, str], dict[str, str], bool]], buttons: bool
) -> None:
    """Whatever the alerts say, each packed message validates or splits losing nothing."""
    cards = [
        AlertCard(
            replace(
                _real(),
                labels=labels,
                annotations=notes,
                fingerprint=f"f{i}",
                status="resolved" if resolved else "firing",
            ),
            CTX,
        )
        for i, (labels, notes, resolved) in enumerate(alerts)
    ]
    groups = pack(cards, NOW)
    assert [c for g in groups for c in g] == cards
    for g in groups:
        msg = alert_message(g, buttons=buttons, now=NOW)
        parts = split(msg)
        assert all(validate(p) == [] for p in parts)
        assert flatten_text(parts) == flatten_text([msg])
        if len(g) > 1:
            assert len(parts) == 1  # packed groups need no splitting
        for text in _texts(msg):
            assert not LIVE_MENTION.search(text)
