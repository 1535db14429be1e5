"""Status queries are Node Exporter Full's first row, and status messages escape outside text."""

from __future__ import annotations

import json

from bot.domain.messages import CONTINUATION, split, validate
from bot.domain.status import (
    FIRING_TOTAL_QUERY,
    HostStatus,
    Mount,
    Resolution,
    Target,
    ambiguous_host_message,
    detail_queries,
    find_target,
    fleet_message,
    host_message,
    host_queries,
    mounts_from,
    resolve,
    targets_from,
    temperatures_from,
    unavailable_message,
    unknown_host_message,
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


def _vm_pair() -> list[tuple[Target, bool]]:
    """Two exporters whose kernels are both called vm, configured as nas and web."""
    up = [
        ({"instance": "127.0.0.1:9101", "job": "homelab-exporter"}, 1.0),
        ({"instance": "127.0.0.1:9201", "job": "homelab-exporter"}, 1.0),
    ]
    names = [
        ({"instance": "127.0.0.1:9101", "job": "homelab-exporter", "nodename": "vm",
          "host": "nas"}, 1.0),
        ({"instance": "127.0.0.1:9201", "job": "homelab-exporter", "nodename": "vm",
          "host": "web"}, 1.0),
    ]  # fmt: skip
    return targets_from(up, names)


def test_the_configured_host_name_names_the_host() -> None:
    """The `host` label (the exporter's hostname) names a host; its nodename still finds it."""
    targets = [t for t, _ in _vm_pair()]
    assert [(t.name, t.nodename) for t in targets] == [("nas", "vm"), ("web", "vm")]
    assert resolve(targets, "nas").target == targets[0]
    assert resolve(targets, "WEB").target == targets[1]


def test_a_target_label_host_wins_over_the_exporters() -> None:
    """A `host` target label (on `up`) names the host even before node_uname_info exists."""
    up = [({"instance": "10.0.0.9:9100", "job": "node", "host": "router"}, 0.0)]
    ((target, ok),) = targets_from(up, [], host_jobs=["node"])
    assert (target.name, ok) == ("router", False)


def test_an_ambiguous_name_lists_its_candidates() -> None:
    """A name that fits two hosts resolves to none, and the message lists both instances."""
    targets = [t for t, _ in _vm_pair()]
    found = resolve(targets, "vm")
    assert found.target is None and found.candidates == tuple(targets)
    assert find_target(targets, "vm") is None
    msg = ambiguous_host_message("vm", found.candidates)
    assert msg.outcome == "not_found" and validate(msg) == []
    assert "127.0.0.1:9101" in msg.text and "127.0.0.1:9201" in msg.text
    assert "nas" in msg.text and "web" in msg.text
    same_ip = resolve(targets, "127.0.0.1")
    assert same_ip.target is None and len(same_ip.candidates) == 2


def test_an_instance_is_never_ambiguous_and_beats_a_name() -> None:
    """An instance picks its host even when another host's nodename equals it."""
    up = [({"instance": i, "job": "node"}, 1.0) for i in ("a:9100", "b:9100")]
    names = [
        ({"instance": "a:9100", "job": "node", "nodename": "x"}, 1.0),
        ({"instance": "b:9100", "job": "node", "nodename": "a:9100"}, 1.0),
    ]
    targets = [t for t, _ in targets_from(up, names)]
    found = resolve(targets, "a:9100").target
    assert found is not None and found.instance == "a:9100"


def test_duplicate_names_are_shown_with_their_instance() -> None:
    """Two hosts both called vm appear on two lines, each with its instance."""
    up = [
        ({"instance": "127.0.0.1:9101", "job": "homelab-exporter"}, 1.0),
        ({"instance": "127.0.0.1:9201", "job": "homelab-exporter"}, 0.0),
        ({"instance": "10.0.0.2:9100", "job": "homelab-exporter"}, 1.0),
    ]
    names = [
        ({"instance": i, "job": "homelab-exporter", "nodename": n}, 1.0)
        for i, n in (("127.0.0.1:9101", "vm"), ("127.0.0.1:9201", "vm"), ("10.0.0.2:9100", "pi"))
    ]
    hosts = [HostStatus(t, up) for t, up in targets_from(up, names)]
    lines = fleet_message(hosts).embeds[0].description.splitlines()
    assert lines[0].startswith("🟢 **pi**: ")  # unique: no instance
    assert lines[1].startswith("🟢 **vm** (127.0.0.1:9101): ")
    assert lines[2] == "🔴 **vm** (127.0.0.1:9201): DOWN"


def test_aliases_name_and_find_hosts() -> None:
    """An alias renames the instance it points at, and finds it; other names still work."""
    up = [({"instance": "192.168.1.5:9100", "job": "node"}, 1.0)]
    names = [({"instance": "192.168.1.5:9100", "job": "node", "nodename": "debian"}, 1.0)]
    ((t, _),) = targets_from(up, names, aliases={"nas": "192.168.1.5:9100", "x": "nowhere:1"})
    assert (t.name, t.aliases) == ("nas", ("nas",))
    assert resolve([t], "NAS").target == t and resolve([t], "debian").target == t
    assert resolve([t], "x") == Resolution()
    msg = unknown_host_message("x", [t], {"x": "nowhere:1"})
    assert msg.outcome == "not_found" and "nowhere:1" in msg.text and "nas" in msg.text


def test_unavailable_says_so_in_its_outcome() -> None:
    """When Prometheus cannot answer, the message's outcome is unavailable (for exit codes)."""
    assert unavailable_message("http://p:9090", "connection refused").outcome == "unavailable"


def test_host_view_shows_mounts_temperatures_network_and_alerts() -> None:
    """Every mount, each sensor (hottest first), throughput and the firing alerts' names."""
    used = [
        ({"mountpoint": "/", "fstype": "ext4"}, 41.2),
        ({"mountpoint": "/srv/media", "fstype": "xfs"}, 87.0),
    ]
    sizes = [({"mountpoint": "/"}, 20e9), ({"mountpoint": "/srv/media"}, 4e12)]
    temps = temperatures_from([
        ({"chip": "platform_coretemp_0", "chip_name": "coretemp", "sensor": "temp1"}, 48.0),
        ({"chip": "pci0000:00_0000:00:18_3", "sensor": "temp1"}, 61.0),
    ])  # fmt: skip
    h = HostStatus(
        Target("nas:9101", "homelab-exporter", "nas", nodename="debian"),
        up=True,
        mounts=mounts_from(used, sizes),
        temperatures=temps,
        net_receive_bps=1_250_000.0,
        net_transmit_bps=30_000.0,
        alerts_firing=2,
        alert_names=("HostDiskAlmostFull", "HostHighCpu"),
    )
    msg = host_message(h)
    assert validate(msg) == []
    fields = {f.name: f.value for f in msg.embeds[0].fields}
    assert fields["File systems"].splitlines() == [
        "/ 41 % of 20.0 GB", "/srv/media 87 % of 4.0 TB",
    ]  # fmt: skip
    assert fields["Temperatures"].splitlines() == [
        "pci0000:00\\_0000:00:18\\_3 temp1: 61 °C", "coretemp temp1: 48 °C",
    ]  # fmt: skip
    assert fields["Network"] == "in 1.2 MB/s · out 30.0 kB/s"
    assert fields["Alerts firing"] == "2: HostDiskAlmostFull, HostHighCpu"
    assert fields["Node name"] == "debian"
    assert msg.rows[0][0].custom_id.endswith(":nas:9101")  # refresh finds this very instance


def test_no_sensors_no_temperature_field() -> None:
    """A host without sensors has no Temperatures field (rather than an empty one)."""
    msg = host_message(HostStatus(Target("a:1", "node", "a"), up=True))
    assert "Temperatures" not in {f.name for f in msg.embeds[0].fields}
    assert validate(msg) == []


def test_many_mounts_stay_within_discords_limits() -> None:
    """A host with 200 long mount points gives a valid message, cut with a count of the rest."""
    mounts = tuple(Mount("/srv/" + "x" * 200 + f"/d{i}", "ext4", 50.0, 1e9) for i in range(200))
    msg = host_message(HostStatus(Target("a:1", "node", "a"), up=True, mounts=mounts))
    fields = msg.embeds[0].fields
    start = next(i for i, f in enumerate(fields) if f.name == "File systems")
    assert fields[-1].value.endswith("… and 180 more") and fields[-1].name == CONTINUATION
    assert sum(f.value.count("\n") + 1 for f in fields[start:]) == 21
    assert fields[start].value.startswith("/srv/xxx") and "…" in fields[start].value
    assert fields[start].value.splitlines()[0].endswith("xxx/d0 50 % of 1.0 GB")
    assert validate(msg) == []


def test_fleet_counts_firing_alerts_compactly() -> None:
    """The title counts every firing alert; a host's line carries its own count, one line each."""
    hosts = [
        HostStatus(Target("a:1", "node", "a"), up=True, alerts_firing=2),
        HostStatus(Target("b:1", "node", "b"), up=True),
    ]
    msg = fleet_message(hosts, alerts_firing=3)
    embed = msg.embeds[0]
    assert embed.title == "Fleet: 2 hosts up · 3 alerts firing"
    lines = embed.description.splitlines()
    assert len(lines) == 2 and lines[0].endswith(" · 🔔 2") and "🔔" not in lines[1]


def test_a_large_fleet_splits_into_valid_messages() -> None:
    """Fifty hosts with long names: the splitter turns the summary into valid messages."""
    hosts = [
        HostStatus(Target(f"h{i}:9100", "node", "h" * 60 + str(i)), up=True, cpu_busy=1.0,
                   mem_used=2.0, rootfs_used=3.0, load1=0.5, load_percent=12.0, cores=4,
                   uptime_seconds=86400.0, alerts_firing=1)
        for i in range(50)
    ]  # fmt: skip
    parts = split(fleet_message(hosts, alerts_firing=50))
    assert all(validate(p) == [] for p in parts)
    text = "".join(e.description for p in parts for e in p.embeds)
    assert text.count("🟢") == 50


def test_detail_queries_use_the_schema_and_real_file_systems() -> None:
    """Mount queries leave out RAM and image file systems and rootfs, like the dashboards."""
    from grafana.generate import FIRING as GRAFANA_FIRING
    from grafana.generate import FS as GRAFANA_FS

    q = detail_queries(Target("nas:9101", "homelab-exporter", "nas"), "1m")
    assert GRAFANA_FS in q["mounts_used"] and 'device!~"rootfs"' in q["mounts_used"]
    assert "node_filesystem_avail_bytes" in q["mounts_used"]
    assert "node_hwmon_chip_names" in q["temperatures"]
    assert 'device!="lo"' in q["net_receive"] and "[1m]" in q["net_transmit"]
    assert 'instance="nas:9101"' in q["alerts"] and "job=" not in q["alerts"]
    assert GRAFANA_FIRING in FIRING_TOTAL_QUERY
