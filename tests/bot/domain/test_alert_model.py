"""The Alertmanager payload model: strict where the bot depends on it, never a crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.alerts.model import (
    AlertContext,
    PayloadError,
    alert_from_json,
    alert_to_json,
    context_from_json,
    context_to_json,
    expr_of,
    normalise_time,
    parse_notification,
    unix_time,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "alertmanager"


def _payload(name: str = "firing.json") -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def test_a_real_firing_payload_parses() -> None:
    """Alertmanager's own body: every field lands where it belongs."""
    n = parse_notification(_payload())
    assert n.status == "firing"
    assert n.receiver == "bot"
    assert n.group_key == '{}:{alertname="HostHighCpu", instance="nas:9100"}'
    assert n.truncated_alerts == 0
    assert n.external_url.startswith("http://")
    assert n.context == AlertContext(n.external_url, "bot", n.group_key)
    (a,) = n.alerts
    assert (a.name, a.host, a.severity) == ("HostHighCpu", "nas:9100", "warning")
    assert a.fingerprint == "4273455f019c5dbf"
    assert a.annotations["summary"] == "nas:9100: CPU 97.3% busy"
    assert a.starts() == unix_time("2026-12-03T12:55:05Z")
    assert a.ends() is None  # Go's zero time: not ended
    assert a.firing


def test_a_real_resolved_payload_has_an_end() -> None:
    """A resolved alert ends after it started; its dedupe key differs from the firing one."""
    firing = parse_notification(_payload()).alerts[0]
    resolved = parse_notification(_payload("resolved.json")).alerts[0]
    assert resolved.status == "resolved"
    ends, starts = resolved.ends(), resolved.starts()
    assert ends is not None and starts is not None and ends > starts
    assert firing.fingerprint == resolved.fingerprint
    assert firing.dedupe_key != resolved.dedupe_key


def test_host_label_wins_over_instance_and_severity_defaults() -> None:
    """host is the host label when there is one; severity defaults to warning."""
    doc = _payload()
    doc["alerts"][0]["labels"] = {"alertname": "X", "instance": "10.0.0.5:9100", "host": "nas"}
    a = parse_notification(doc).alerts[0]
    assert a.host == "nas"
    assert a.severity == "warning"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("2026-12-03T12:00:00Z", "2026-12-03T13:00:00+01:00"),
        ("2026-12-03T12:00:00Z", "2026-12-03T12:00:00.000000000Z"),
        ("2026-12-03T12:00:00.5Z", "2026-12-03t07:00:00.500-05:00"),
        ("2026-12-03T00:30:00.123456789Z", "2026-12-02T23:30:00.123456789-01:00"),
        ("2026-12-03T10:00:00.123456789Z", "2026-12-03T11:00:00.12345678900+01:00"),
    ],
)
def test_one_instant_written_two_ways_gives_one_dedupe_key(one: str, other: str) -> None:
    """The dedupe key normalises startsAt, so a re-sent notification is recognised."""
    doc_a, doc_b = _payload(), _payload()
    doc_a["alerts"][0]["startsAt"] = one
    doc_b["alerts"][0]["startsAt"] = other
    a = parse_notification(doc_a).alerts[0]
    b = parse_notification(doc_b).alerts[0]
    assert a.dedupe_key == b.dedupe_key
    assert a.starts() == pytest.approx(b.starts())
    assert a.starts_at == one  # the string as sent is kept
    assert a.starts_at_utc == b.starts_at_utc == normalise_time(one)


def test_different_episodes_have_different_dedupe_keys() -> None:
    """Same fingerprint, another startsAt (a new firing episode): another key."""
    doc = _payload()
    a = parse_notification(doc).alerts[0]
    doc["alerts"][0]["startsAt"] = "2026-12-03T12:55:05.000000001Z"
    assert parse_notification(doc).alerts[0].dedupe_key != a.dedupe_key


def test_times_normalise_and_the_zero_time_is_none() -> None:
    """RFC3339 spellings reduce to UTC with Z; Go's zero time reads as no time."""
    assert normalise_time("2026-12-03T13:00:00.120+01:00") == "2026-12-03T12:00:00.12Z"
    assert normalise_time("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z"
    assert unix_time("0001-01-01T00:00:00Z") is None
    assert unix_time("1970-01-01T00:00:01.5Z") == 1.5


def _with(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(_payload())
    keys: list[Any] = []
    for part in path.replace("[", ".").replace("]", "").split("."):
        keys.append(int(part) if part.isdigit() else part)
    target: Any = doc
    for k in keys[:-1]:
        target = target[k]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        ([], "payload", "must be an object"),
        (_with("version", "3"), "version", 'must be "4"'),
        (_with("version", "", delete=True), "version", "is missing"),
        (_with("status", "pending"), "status", '"firing" or "resolved"'),
        (_with("receiver", 5), "receiver", "must be a string, not a number"),
        (_with("groupKey", None), "groupKey", "not null"),
        (_with("truncatedAlerts", -1), "truncatedAlerts", "whole number"),
        (_with("truncatedAlerts", True), "truncatedAlerts", "whole number"),
        (_with("alerts", {}), "alerts", "must be a list"),
        (_with("alerts", None, delete=True), "alerts", "is missing"),
        (_with("commonLabels", []), "commonLabels", "must be an object"),
        (_with("alerts[0]", "x"), "alerts[0]", "must be an object"),
        (_with("alerts[0].status", "ok"), "alerts[0].status", "firing"),
        (_with("alerts[0].labels.severity", 3), "alerts[0].labels.severity", "string"),
        (_with("alerts[0].labels.a b", 3), 'alerts[0].labels["a b"]', "string"),
        (_with("alerts[0].labels", None, delete=True), "alerts[0].labels", "is missing"),
        (_with("alerts[0].annotations.summary", []), "alerts[0].annotations.summary", "a list"),
        (_with("alerts[0].startsAt", "yesterday"), "alerts[0].startsAt", "RFC3339"),
        (_with("alerts[0].startsAt", "2026-13-01T00:00:00Z"), "alerts[0].startsAt", "RFC3339"),
        (_with("alerts[0].startsAt", "2026-12-03T12:00:00"), "alerts[0].startsAt", "RFC3339"),
        (_with("alerts[0].endsAt", "0001-01-01T00:00:00+01:00"), "alerts[0].endsAt", "RFC3339"),
        (_with("alerts[0].fingerprint", ""), "alerts[0].fingerprint", "1 to 64"),
        (_with("alerts[0].fingerprint", "ab:cd"), "alerts[0].fingerprint", "letters and digits"),
        (_with("alerts[0].fingerprint", "a" * 65), "alerts[0].fingerprint", "1 to 64"),
        (_with("alerts[0].generatorURL", 1.5), "alerts[0].generatorURL", "string"),
    ],
)
def test_bad_payloads_name_the_field(doc: object, field: str, words: str) -> None:
    """Each refusal names the field by path and says what is wrong, in one sentence."""
    with pytest.raises(PayloadError) as err:
        parse_notification(doc)
    assert err.value.field == field
    text = str(err.value)
    assert text.startswith(field + " ") and text.endswith(".")
    assert words in text
    assert "\n" not in text


def test_unknown_keys_are_ignored() -> None:
    """Keys a later Alertmanager may add do not break the receiver."""
    doc = _with("alerts[0].newThing", {"x": [1]})
    doc["somethingNew"] = 1
    assert parse_notification(doc).alerts[0].fingerprint == "4273455f019c5dbf"


def test_error_text_stays_short_for_huge_values() -> None:
    """A megabyte of junk does not come back in the 422 body."""
    with pytest.raises(PayloadError) as err:
        parse_notification(_with("alerts[0].fingerprint", "x" * 1_000_000))
    assert len(str(err.value)) < 200


def test_alert_and_context_round_trip_through_json() -> None:
    """What is stored beside each alert comes back equal."""
    n = parse_notification(_payload("resolved.json"))
    a = n.alerts[0]
    assert alert_from_json(alert_to_json(a)) == a
    assert context_from_json(context_to_json(n.context)) == n.context
    with pytest.raises(PayloadError):
        alert_from_json("{not json")
    with pytest.raises(PayloadError):
        context_from_json("[]")


def test_alerts_hash_by_identity_fields() -> None:
    """Alerts can go in sets (labels and annotations are left out of the hash)."""
    a = parse_notification(_payload()).alerts[0]
    assert len({a, alert_from_json(alert_to_json(a))}) == 1


@pytest.mark.parametrize(
    ("url", "expr"),
    [
        (
            "http://prometheus:9090/graph?g0.expr=instance%3Anode_cpu_busy%3Aratio+%3E+0.9&g0.tab=1",
            "instance:node_cpu_busy:ratio > 0.9",
        ),
        (
            "http://p/graph?g0.tab=1&g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0#x",
            'up{job="node"} == 0',
        ),
        ("http://p/graph?g0.expr=100%25", "100%"),
        ("http://p/graph?g0.expr=caf%C3%A9", "café"),
        ("http://p/graph?g0.expr=bad%zz", "bad%zz"),
        ("http://p/graph?g0.tab=1", None),
        ("http://p/graph?g0.expr=", None),
        ("", None),
    ],
)
def test_expr_of_reads_the_generator_url(url: str, expr: str | None) -> None:
    """The alert's PromQL comes from Prometheus's g0.expr parameter."""
    assert expr_of(url) == expr


_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
_KEYS = (
    "version",
    "status",
    "receiver",
    "groupKey",
    "alerts",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "fingerprint",
    "generatorURL",
    "truncatedAlerts",
    "commonLabels",
)


@st.composite
def _mutated(draw: st.DrawFn) -> object:
    """The real payload with one value anywhere in it replaced by arbitrary JSON."""
    doc: Any = _payload()
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, i])

    walk(doc, [])
    path = draw(st.sampled_from(paths[1:]))
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = draw(
        _json | st.sampled_from(["4", "firing", "resolved", "0001-01-01T00:00:00Z"])
    )
    return doc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json | st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8) | _mutated())
def test_parse_raises_only_payload_error(doc: object) -> None:
    """The receiver's fuzz contract: any JSON value parses or raises PayloadError, nothing else."""
    try:
        n = parse_notification(doc)
    except PayloadError as err:
        assert str(err).endswith(".")
        assert err.field
        return
    for a in n.alerts:
        assert alert_from_json(alert_to_json(a)) == a
        _ = (a.dedupe_key, a.starts(), a.ends(), a.name, a.host, a.severity)
