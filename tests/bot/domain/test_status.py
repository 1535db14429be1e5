"""Status queries are Node Exporter Full's first row, and status messages escape outside text."""

from __future__ import annotations

import json

from bot.domain.messages import validate
from bot.domain.status import (
    HostStatus,
    Target,
    find_target,
    fleet_message,
    host_message,
    host_queries,
    targets_from,
)
from tests.conftest import shared_fixture

PANELS = {
    "cpu_busy": "CPU Busy",
    "load_percent": "Sys Load",
    "mem_used": "RAM Used",
    "rootfs_used": "Root FS Used",
    "cores": "CPU Cores",
    "uptime": "Uptime",
}


def test_queries_are_the_dashboards_first_row() -> None:
    """Each query equals the dashboard's expression with $node, $job and the interval filled."""
    board = json.loads(shared_fixture("node-exporter-full.json").read_text())
    exprs = {p["title"]: p["targets"][0]["expr"] for p in board["panels"][:12] if p.get("targets")}
    ours = host_queries(Target("nas:9100", "node", "nas"), "1m")
    for key, title in PANELS.items():
        expected = (
            exprs[title]
            .replace("$node", "nas:9100")
            .replace("$job", "node")
            .replace("$__rate_interval", "1m")
        )
        assert ours[key] == expected, title


def test_targets_keep_host_jobs_and_name_hosts() -> None:
    """Only jobs exporting node_uname_info are hosts; down hosts fall back to the instance."""
    up = [
        ({"instance": "10.0.0.5:9100", "job": "node"}, 1.0),
        ({"instance": "10.0.0.6:9100", "job": "node"}, 0.0),
        ({"instance": "localhost:9090", "job": "prometheus"}, 1.0),
    ]
    names = [({"instance": "10.0.0.5:9100", "job": "node", "nodename": "nas"}, 1.0)]
    targets = targets_from(up, names)
    assert [(t.name, ok) for t, ok in targets] == [("10.0.0.6", False), ("nas", True)]
    assert find_target([t for t, _ in targets], "10.0.0.5:9100") == targets[1][0]


def test_host_names_from_outside_are_escaped() -> None:
    """A hostile nodename cannot ping @everyone or inject markdown."""
    evil = Target("x:9100", "node", "@everyone **boom**")
    msg = fleet_message([HostStatus(evil, up=False)])
    text = msg.embeds[0].description
    assert "@everyone" not in text and "\\*\\*boom\\*\\*" in text
    assert validate(msg) == [] and validate(host_message(HostStatus(evil, up=True))) == []


def test_configured_host_jobs_list_hosts_that_never_answered() -> None:
    """A job named in host_jobs is listed (as down) even with no node_uname_info at all."""
    up = [({"instance": "10.0.0.7:9100", "job": "edge"}, 0.0)]
    assert targets_from(up, []) == []
    targets = targets_from(up, [], host_jobs=["edge"])
    assert [(t.name, ok) for t, ok in targets] == [("10.0.0.7", False)]


def test_a_fleet_entirely_down_says_so() -> None:
    """When every host is down the title says all are down, never 'no hosts'."""
    hosts = [HostStatus(Target(f"h{i}:9100", "node", f"h{i}"), up=False) for i in range(2)]
    title = fleet_message(hosts).embeds[0].title
    assert title == "Fleet: all 2 hosts DOWN"


def test_fleet_titles_use_the_singular_for_one_host() -> None:
    """One host reads "1 host", never "1 hosts", whether it is up, down or one of several."""
    one = Target("h1:9100", "node", "h1")
    assert fleet_message([HostStatus(one, up=False)]).embeds[0].title == "Fleet: 1 host DOWN"
    assert fleet_message([HostStatus(one, up=True)]).embeds[0].title == "Fleet: 1 host up"
    two = [HostStatus(one, up=True), HostStatus(Target("h2:9100", "node", "h2"), up=False)]
    assert fleet_message(two).embeds[0].title == "Fleet: 2 hosts, 1 down"


def test_names_reach_back_past_staleness() -> None:
    """Host names come from the last day of node_uname_info, not only its live series."""
    from bot.domain.status import NAMES_QUERY

    assert "last_over_time(node_uname_info[1d])" in NAMES_QUERY
