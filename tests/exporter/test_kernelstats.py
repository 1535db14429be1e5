"""The /proc and /sys readers of the node_exporter collectors psutil has no call for."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.collection import Collection
from exporter.kernelstats import (
    DiskStats,
    KernelReader,
    _Selection,
    parse_conntrack_stat,
    parse_diskstats,
    parse_keyvalues,
    parse_netstat,
    parse_snmp6,
    parse_softnet,
)
from exporter.prometheus import Exposition
from exporter.sampling import Sampler
from tests.exporter.conftest import fake_psutil


def _parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


@pytest.fixture
def metrics(procfs: Path, sysfs: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """One scrape of the fixture /proc and /sys."""
    exp = Exposition(Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())))
    return _parse(exp.render().decode())


def test_the_fixture_sources_become_node_exporters_series(
    metrics: dict[str, dict[tuple[tuple[str, str], ...], float]],
) -> None:
    """filefd, entropy, conntrack, sockstat (with _mem_bytes), softnet, arp, udp_queues and
    netclass read from the checked-in files under node_exporter's names and labels."""
    m = metrics
    assert m["node_filefd_allocated"][()] == 3015 and m["node_filefd_maximum"][()] == 2466103
    assert m["node_entropy_pool_size_bits"][()] == 256
    assert m["node_nf_conntrack_entries_limit"][()] == 262144
    assert m["node_nf_conntrack_stat_drop"][()] == 0
    assert m["node_sockstat_TCP_inuse"][()] == 38 and m["node_sockstat_sockets_used"][()] == 77
    assert "node_sockstat_TCP6_inuse" in m and "node_sockstat_FRAG_memory" in m
    assert m["node_sockstat_UDP_mem_bytes"][()] == 0
    assert {dict(k)["cpu"] for k in m["node_softnet_processed_total"]} == {"0", "1"}
    assert m["node_arp_entries"] == {(("device", "eth0"),): 1, (("device", "cni-podman1"),): 1}
    assert m["node_udp_queues"][(("ip", "v4"), ("queue", "tx"))] == 0x10
    assert m["node_udp_queues"][(("ip", "v4"), ("queue", "rx"))] == 0x200
    eth0 = (("device", "eth0"),)
    assert m["node_network_mtu_bytes"][eth0] == 1500
    assert m["node_network_speed_bytes"][eth0] == 1000 * 1000 * 1000 / 8
    assert m["node_network_flags"][eth0] == 0x1003 and m["node_network_up"][eth0] == 1
    (info,) = [k for k in m["node_network_info"] if ("device", "eth0") in k]
    assert dict(info) == {"address": "02:fc:00:00:00:01", "broadcast": "", "device": "eth0",
                          "duplex": "full", "ifalias": "", "operstate": "up"}  # fmt: skip
    # /proc/net/dev's other eight columns
    assert m["node_network_receive_fifo_total"][eth0] == 0
    assert m["node_network_transmit_colls_total"][eth0] == 0


def test_vmstat_and_netstat_keep_node_exporters_default_field_sets(
    metrics: dict[str, dict[tuple[tuple[str, str], ...], float]],
) -> None:
    """pgfault, pswpin, oom_kill but not nr_free_pages; Tcp_InSegs, Ip_Forwarding,
    Udp6_InDatagrams but not Tcp_RtoMin; all untyped as node_exporter's are."""
    m = metrics
    assert "node_vmstat_pgfault" in m and "node_vmstat_pswpin" in m
    assert "node_vmstat_oom_kill" in m and "node_vmstat_nr_free_pages" not in m
    assert m["node_netstat_Ip_Forwarding"][()] == 1
    assert "node_netstat_Tcp_InSegs" in m and "node_netstat_TcpExt_ListenDrops" in m
    assert "node_netstat_Udp6_InDatagrams" in m and "node_netstat_Icmp6_InMsgs" in m
    assert "node_netstat_Tcp_RtoMin" not in m and "node_netstat_TcpExt_TW" not in m


def test_remembered_layouts_follow_the_kernels_values_and_a_changed_header() -> None:
    """The second read of a file uses its remembered layout: new values are read, and a header
    with a field added (a new kernel) gets its own layout, not the old positions."""
    keep = _Selection(lambda name: name in ("Tcp_InSegs", "Ip6_InReceives", "pgfault"))
    first = b"Tcp: RtoMin InSegs\nTcp: 200 5\nUdp: InErrors\nUdp: 1\n"
    assert parse_netstat(first, keep) == {"Tcp_InSegs": 5}
    assert parse_netstat(first.replace(b" 5\n", b" 9\n"), keep) == {"Tcp_InSegs": 9}
    added = b"Tcp: RtoMin New InSegs\nTcp: 200 1 7\n"
    assert parse_netstat(added, keep) == {"Tcp_InSegs": 7}
    assert parse_netstat(b"Tcp: RtoMin InSegs\nUdp: 200 5\n", keep) == {}  # not a pair
    assert parse_snmp6(b"Ip6InReceives 3\nIcmp6InMsgs 1\n", keep) == {"Ip6_InReceives": 3}
    assert parse_snmp6(b"Ip6InReceives 4\nIcmp6InMsgs 1\n", keep) == {"Ip6_InReceives": 4}
    assert parse_snmp6(b"Ip6InReceives 4\nIcmp6InMsgs\n", keep) == {"Ip6_InReceives": 4}
    assert parse_keyvalues(b"pgfault 10\nnr_free 3\n", keep) == {"pgfault": 10}
    assert parse_keyvalues(b"pgfault 11\nnr_free 3\n", keep) == {"pgfault": 11}
    assert parse_keyvalues(b"nr_free 3\npgfault 12\n", keep) == {"pgfault": 12}
    assert parse_keyvalues(b"pgfault 13\nodd\nnr_free 3 4\n", keep) == {"pgfault": 13}


def test_diskstats_of_old_and_new_kernels() -> None:
    """14 fields (before 4.18) leave discards and flushes None; 20 fields fill them."""
    old = parse_diskstats(b"   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n")
    assert old == (DiskStats("sda", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),)
    new = parse_diskstats(b" 254 0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n")
    both = b"   7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n 254 0 vda 1 2 3 4 5 6 7 8 9 10 11\n"
    assert [d.device for d in parse_diskstats(both, lambda dev: dev != "loop0")] == ["vda"]
    assert new[0].discards == 12 and new[0].discard_ms == 15 and new[0].flush_ms == 17


def test_old_kernels_softnet_and_conntrack_stat_formats() -> None:
    """softnet_stat without a CPU column numbers CPUs by line; conntrack stats are hex sums."""
    (a, b) = parse_softnet(b"0000000a 00000001 00000002\n0000000b 00000000 00000000\n")
    assert (a.cpu, a.processed, a.dropped, a.time_squeeze, a.received_rps) == ("0", 10, 1, 2, None)
    assert b.cpu == "1"
    stats = parse_conntrack_stat(b"entries found drop\n00000001 0000000a 00000001\n"
                                 b"00000001 00000006 00000002\n")  # fmt: skip
    assert stats == {"found": 16, "drop": 3}


def test_a_missing_source_is_silent_and_a_broken_one_fails_only_itself(
    procfs: Path, sysfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No nf_conntrack: no conntrack series, node_scrape_collector_success 0, no warning and
    no homelab_exporter_collector_success 0 (not an alert). An unparsable sockstat: success
    0 on both, one warning, and the rest of the scrape is served."""
    for f in (procfs / "sys" / "net" / "netfilter").iterdir():
        f.unlink()
    (procfs / "net" / "sockstat").write_text("TCP: inuse many\n")
    exp = Exposition(Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())))
    with caplog.at_level(logging.DEBUG):
        m = _parse(exp.render().decode())
    assert not [n for n in m if n.startswith(("node_nf_conntrack", "node_sockstat"))]
    ok = m["node_scrape_collector_success"]
    assert ok[(("collector", "conntrack"),)] == 0 and ok[(("collector", "sockstat"),)] == 0
    health = m["homelab_exporter_collector_success"]
    assert (("collector", "conntrack"),) not in health
    assert health[(("collector", "sockstat"),)] == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "sockstat" in warnings[0]
    assert m["node_filefd_maximum"][()] == 2466103 and "node_load1" in m


def test_timex_reads_adjtimex_without_privileges() -> None:
    """adjtimex(2) with modes 0 answers unprivileged: tick and the frequency ratio are sane."""
    try:
        t = KernelReader().timex()
    except PermissionError:
        pytest.skip("adjtimex refused here (seccomp); node_exporter leaves timex out too")
    assert 0 < t.tick_seconds < 1 and 0.99 < t.frequency_adjustment_ratio < 1.01
    assert t.sync_status in (0, 1)


def test_processes_counts_states_as_telegraf(procfs: Path) -> None:
    """/proc/<pid>/stat of this machine: totals and Telegraf's Linux field names."""
    p = KernelReader().processes()
    assert p.total > 0 and p.threads >= p.total and p.states["running"] >= 1
    assert {"blocked", "zombies", "stopped", "running", "sleeping", "unknown", "dead",
            "paging", "idle"} <= set(p.states)  # fmt: skip


def test_exclusions_apply_to_every_disk_and_netdev_series(procfs: Path, sysfs: Path) -> None:
    """The default disk exclusion drops loop and zram devices from every diskstats series;
    a netdev exclusion of ^lo$ drops lo from the netdev series but not from netclass's."""
    coll = Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil()), network_exclude="^lo$")
    m = _parse(Exposition(coll).render().decode())
    for fam in ("node_disk_reads_completed_total", "node_disk_io_now",
                "node_disk_discards_completed_total"):  # fmt: skip
        assert {dict(k)["device"] for k in m[fam]} == {"vda"}, fam
    assert (("device", "lo"),) not in m["node_network_receive_bytes_total"]
    assert (("device", "lo"),) not in m["node_network_receive_fifo_total"]
    assert (("device", "lo"),) in m["node_network_up"]


def test_influx_only_figures_are_derived_from_the_shared_snapshot(
    procfs: Path, sysfs: Path
) -> None:
    """swap in/out (pswpin/pswpout pages x page size), disk queues and interface flags come
    from what the scrape read, without a second read of /proc/vmstat or /proc/diskstats."""
    coll = Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil()))
    snap = coll.influx_snapshot()
    assert snap.vmstat is not None and snap.swap_activity is not None
    page = coll.sampler.page_size
    assert snap.swap_activity.swapped_in == snap.vmstat["pswpin"] * page
    assert snap.swap_activity.swapped_out == snap.vmstat["pswpout"] * page
    (vda,) = [q for q in snap.disk_queues if q.device == "vda"]
    (stats,) = [d for d in snap.diskstats if d.device == "vda"]
    assert (vda.in_progress, vda.weighted_time_ms) == (stats.io_now, stats.weighted_ms)
    assert snap.interface_flags is not None and snap.interface_flags["eth0"] == 0x1003
