"""The kernel sources of a snapshot (exporter.kernelstats) as node_exporter's metric families.

Names, labels, types and units are node_exporter 1.5's (vmstat, timex, entropy, filefd,
diskstats, netdev, netclass, arp, conntrack, sockstat, softnet, netstat, udp_queues) and
`node_scrape_collector_duration_seconds` / `node_scrape_collector_success` per collector.
vmstat and netstat keep node_exporter's default field selection (schema.VMSTAT_FIELDS,
NETSTAT_FIELDS), which the reader applies while parsing: a regex runs once per field name.

Example::

    fams = kernel_families(collection.snapshot())
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from exporter.collection import CollectorStatus, Snapshot
from exporter.families import NO_LABELS, Family, FamilyNames, Labels
from exporter.kernelstats import CONNTRACK_STATS, NETCLASS_FILES, NETDEV_FIELDS

# /proc/net/dev columns psutil does not give (the other eight are in prometheus.host_families)
_NETDEV_EXTRA = tuple(
    (i, f"node_network_{name}_total", f"Network device statistic {name}.")
    for i, name in enumerate(NETDEV_FIELDS)
    if name.rsplit("_", 1)[1] not in ("bytes", "packets", "errs", "drop")
)  # fmt: skip
_NETCLASS_COUNTERS = frozenset(
    ("carrier_changes_total", "carrier_up_changes_total", "carrier_down_changes_total")
)
_NETCLASS = tuple(
    (fname, f"node_network_{metric}", "counter" if metric in _NETCLASS_COUNTERS else "gauge",
     f"Network device property: {metric}")
    for fname, metric in NETCLASS_FILES
)  # fmt: skip
_DISK_EXTRA: tuple[tuple[str, str, str, float], ...] = (
    ("node_disk_io_now", "io_now", "The number of I/Os currently in progress.", 0.0),
    ("node_disk_io_time_weighted_seconds_total", "weighted_ms",
     "The weighted # of seconds spent doing I/Os.", 0.001),
    ("node_disk_discards_completed_total", "discards",
     "The total number of discards completed successfully.", 1.0),
    ("node_disk_discards_merged_total", "discards_merged", "The total number of discards merged.",
     1.0),
    ("node_disk_discarded_sectors_total", "discard_sectors",
     "The total number of sectors discarded successfully.", 1.0),
    ("node_disk_discard_time_seconds_total", "discard_ms",
     "This is the total number of seconds spent by all discards.", 0.001),
    ("node_disk_flush_requests_total", "flushes",
     "The total number of flush requests completed successfully", 1.0),
    ("node_disk_flush_requests_time_seconds_total", "flush_ms",
     "This is the total number of seconds spent by all flush requests.", 0.001),
)  # fmt: skip
_TIMEX: tuple[tuple[str, str, str], ...] = (
    ("sync_status", "gauge", "Is clock synchronized to a reliable server (1 = yes, 0 = no)."),
    ("offset_seconds", "gauge", "Time offset in between local system and reference clock."),
    ("frequency_adjustment_ratio", "gauge", "Local clock frequency adjustment."),
    ("maxerror_seconds", "gauge", "Maximum error in seconds."),
    ("estimated_error_seconds", "gauge", "Estimated error in seconds."),
    ("status", "gauge", "Value of the status array bits."),
    ("loop_time_constant", "gauge", "Phase-locked loop time constant."),
    ("tick_seconds", "gauge", "Seconds between clock ticks."),
    ("pps_frequency_hertz", "gauge", "Pulse per second frequency."),
    ("pps_jitter_seconds", "gauge", "Pulse per second jitter."),
    ("pps_shift_seconds", "gauge", "Pulse per second interval duration."),
    ("pps_stability_hertz", "gauge",
     "Pulse per second stability, average of recent frequency changes."),
    ("pps_jitter_total", "counter", "Pulse per second count of jitter limit exceeded events."),
    ("pps_calibration_total", "counter", "Pulse per second count of calibration intervals."),
    ("pps_error_total", "counter", "Pulse per second count of calibration errors."),
    ("pps_stability_exceeded_total", "counter",
     "Pulse per second count of stability limit exceeded events."),
    ("tai_offset_seconds", "gauge", "International Atomic Time (TAI) offset."),
)  # fmt: skip
_CONNTRACK_HELP = {
    "found": "Number of searched entries which were successful.",
    "invalid": "Number of packets seen which can not be tracked.",
    "ignore": "Number of packets seen which are already connected to a conntrack entry.",
    "insert": "Number of entries inserted into the list.",
    "insert_failed": "Number of entries for which list insertion was attempted but failed.",
    "drop": "Number of packets dropped due to conntrack failure.",
    "early_drop": "Number of dropped conntrack entries to make room for new ones, if maximum "
    "table size was reached.",
    "search_restart": "Number of conntrack table lookups which had to be restarted due to "
    "hashtable resizes.",
}


_VMSTAT_NAMES = FamilyNames(
    lambda key: (f"node_vmstat_{key}", f"/proc/vmstat information field {key}.")
)
_NETSTAT_NAMES = FamilyNames(
    lambda key: (f"node_netstat_{key}", f"Statistic {key.replace('_', '', 1)}.")
)


def _sockstat_names(key: str) -> tuple[str, str]:
    if key == "sockets_used":
        return f"node_sockstat_{key}", "Number of IPv4 sockets in use."
    proto, _, what = key.partition("_")
    return f"node_sockstat_{key}", f"Number of {proto} sockets in state {what}."


_SOCKSTAT_NAMES = FamilyNames(_sockstat_names)


def _one(name: str, kind: str, help_: str, value: float) -> Family:
    return Family(name, kind, help_, [(NO_LABELS, value)])


def kernel_families(snap: Snapshot) -> list[Family]:
    """node_exporter's families of the kernel sources in one snapshot."""
    fams: list[Family] = []
    add = fams.append
    for name, attr, help_, scale in _DISK_EXTRA:
        kind = "gauge" if scale == 0.0 else "counter"
        fam = Family(name, kind, help_)
        for d in snap.diskstats:
            value = getattr(d, attr)
            if value is not None:
                fam.samples.append(((("device", d.device),), value * scale if scale else value))
        add(fam)
    for i, name, help_ in _NETDEV_EXTRA:
        add(Family(name, "counter", help_,
                   [((("device", n.device),), n.counters[i]) for n in snap.netdev]))  # fmt: skip
    if snap.netdev and snap.netclass:
        nohandler = {c.device: c.values.get("rx_nohandler") for c in snap.netclass}
        fam = Family("node_network_receive_nohandler_total", "counter",
                     "Network device statistic receive_nohandler.")  # fmt: skip
        for n in snap.netdev:
            value = nohandler.get(n.device)
            if value is not None:
                fam.samples.append(((("device", n.device),), value))
        add(fam)
    _netclass(snap, add)
    if snap.vmstat is not None:
        for key, value in snap.vmstat.items():  # the reader kept the default fields only
            name, help_ = _VMSTAT_NAMES(key)
            add(Family(name, "unknown", help_, [(NO_LABELS, value)]))
    if snap.timex is not None:
        t = snap.timex
        for attr, kind, help_ in _TIMEX:
            add(_one(f"node_timex_{attr}", kind, help_, getattr(t, attr)))
    if snap.entropy is not None:
        add(_one("node_entropy_available_bits", "gauge", "Bits of available entropy.",
                 snap.entropy.available))  # fmt: skip
        add(_one("node_entropy_pool_size_bits", "gauge", "Bits of entropy pool.",
                 snap.entropy.pool_size))  # fmt: skip
    if snap.filefd is not None:
        add(_one("node_filefd_allocated", "gauge", "File descriptor statistics: allocated.",
                 snap.filefd.allocated))  # fmt: skip
        add(_one("node_filefd_maximum", "gauge", "File descriptor statistics: maximum.",
                 snap.filefd.maximum))  # fmt: skip
    if snap.arp is not None:
        add(
            Family(
                "node_arp_entries",
                "gauge",
                "ARP entries by device",
                [((("device", dev),), n) for dev, n in sorted(snap.arp.items())],
            )
        )
    if snap.conntrack is not None:
        c = snap.conntrack
        add(_one("node_nf_conntrack_entries", "gauge",
                 "Number of currently allocated flow entries for connection tracking.",
                 c.entries))  # fmt: skip
        add(_one("node_nf_conntrack_entries_limit", "gauge",
                 "Maximum size of connection tracking table.", c.limit))  # fmt: skip
        for key in CONNTRACK_STATS:
            if key in c.stats:
                add(_one(f"node_nf_conntrack_stat_{key}", "gauge", _CONNTRACK_HELP[key],
                         c.stats[key]))  # fmt: skip
    if snap.sockstat is not None:
        for key, value in snap.sockstat.items():
            name, help_ = _SOCKSTAT_NAMES(key)
            add(Family(name, "gauge", help_, [(NO_LABELS, value)]))
    if snap.softnet:
        _softnet(snap, add)
    if snap.netstat is not None:
        for key, value in snap.netstat.items():  # the reader kept the default fields only
            name, help_ = _NETSTAT_NAMES(key)
            add(Family(name, "unknown", help_, [(NO_LABELS, value)]))
    if snap.udp_queues is not None:
        q = snap.udp_queues
        fam = Family(
            "node_udp_queues",
            "gauge",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        )
        fam.samples = [((("ip", "v4"), ("queue", "rx")), q.v4_rx),
                       ((("ip", "v4"), ("queue", "tx")), q.v4_tx)]  # fmt: skip
        if q.v6_rx is not None and q.v6_tx is not None:
            fam.samples += [((("ip", "v6"), ("queue", "rx")), q.v6_rx),
                            ((("ip", "v6"), ("queue", "tx")), q.v6_tx)]  # fmt: skip
        add(fam)
    return fams


def _netclass(snap: Snapshot, append: Callable[[Family], None]) -> None:
    if not snap.netclass:
        return
    up = Family("node_network_up", "gauge", "Value is 1 if operstate is 'up', 0 otherwise.")
    info = Family(
        "node_network_info",
        "gauge",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    )
    per_file = {fname: Family(name, kind, help_) for fname, name, kind, help_ in _NETCLASS}
    for c in snap.netclass:
        dev: Labels = (("device", c.device),)
        up.samples.append((dev, 1 if c.operstate == "up" else 0))
        info.samples.append(
            ((("address", c.address), ("broadcast", c.broadcast), ("device", c.device),
              ("duplex", c.duplex), ("ifalias", c.ifalias), ("operstate", c.operstate)), 1)
        )  # fmt: skip
        for fname, value in c.values.items():
            fam = per_file.get(fname)
            if fam is None:
                continue  # rx_nohandler: a netdev statistic
            if fname == "speed":
                value = value * 1000 * 1000 // 8  # Mbit/s -> bytes/s, -1 kept as node_exporter
            fam.samples.append((dev, value))
    append(up)
    append(info)
    for fam in per_file.values():
        append(fam)


def _softnet(snap: Snapshot, append: Callable[[Family], None]) -> None:
    processed = Family("node_softnet_processed_total", "counter", "Number of processed packets")
    dropped = Family("node_softnet_dropped_total", "counter", "Number of dropped packets")
    squeezed = Family("node_softnet_times_squeezed_total", "counter",
                      "Number of times processing packets ran out of quota")  # fmt: skip
    rps = Family("node_softnet_received_rps_total", "counter",
                 "Number of times cpu woken up received_rps")  # fmt: skip
    flow = Family("node_softnet_flow_limit_count_total", "counter",
                  "Number of times flow limit has been reached")  # fmt: skip
    for s in snap.softnet:
        cpu: Labels = (("cpu", s.cpu),)
        processed.samples.append((cpu, s.processed))
        dropped.samples.append((cpu, s.dropped))
        squeezed.samples.append((cpu, s.time_squeeze))
        if s.received_rps is not None:
            rps.samples.append((cpu, s.received_rps))
        if s.flow_limit_count is not None:
            flow.samples.append((cpu, s.flow_limit_count))
    for fam in (processed, dropped, squeezed, rps, flow):
        append(fam)


def scrape_families(statuses: Iterable[CollectorStatus]) -> list[Family]:
    """node_scrape_collector_duration_seconds and _success of every collector, as
    node_exporter: a source missing here ("no data") reads success 0 too."""
    dur = Family("node_scrape_collector_duration_seconds", "gauge",
                 "node_exporter: Duration of a collector scrape.")  # fmt: skip
    ok = Family("node_scrape_collector_success", "gauge",
                "node_exporter: Whether a collector succeeded.")  # fmt: skip
    for st in statuses:
        labels: Labels = (("collector", st.name),)
        dur.samples.append((labels, st.duration))
        ok.samples.append((labels, 1 if st.success else 0))
    return [dur, ok]
