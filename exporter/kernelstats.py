"""/proc and /sys readers for the sources psutil has no call for, in node_exporter's terms.

Each method of `KernelReader` reads one source once and parses it with `str.split` and
`bytes.split` (no regular expressions: these run at every scrape). A source the kernel does
not have raises `FileNotFoundError`, which the collection reports as node_exporter reports
"no data": no series and `node_scrape_collector_success` 0, logged at debug level only.
The roots are constructor arguments, so tests read checked-in copies and a container reads
the host's /proc and /sys.

Example::

    reader = KernelReader(procfs=Path("/host/proc"), sysfs=Path("/host/sys"))
    reader.filefd()          # FileFD(allocated=1463, maximum=2466103)
    reader.sockstat()        # {"sockets_used": 33, "TCP_inuse": 14, ...}
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.openfiles import OpenFiles, kernel_fs

log = logging.getLogger(__name__)

SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's block size


@dataclass(frozen=True, slots=True)
class FileFD:
    """/proc/sys/fs/file-nr: file handles allocated and the system-wide maximum."""

    allocated: int
    maximum: int


@dataclass(frozen=True, slots=True)
class Entropy:
    """/proc/sys/kernel/random: bits of entropy available and the pool size."""

    available: int
    pool_size: int


@dataclass(frozen=True, slots=True)
class DiskStats:
    """Every field of one /proc/diskstats line (discard and flush fields None on old kernels).

    Times are milliseconds, sizes sectors, as the kernel writes them.
    """

    device: str
    reads: int
    reads_merged: int
    read_sectors: int
    read_ms: int
    writes: int
    writes_merged: int
    write_sectors: int
    write_ms: int
    io_now: int
    io_ms: int
    weighted_ms: int
    discards: int | None = None
    discards_merged: int | None = None
    discard_sectors: int | None = None
    discard_ms: int | None = None
    flushes: int | None = None
    flush_ms: int | None = None


# /proc/net/dev columns, in order, as node_exporter names them (netdev collector)
NETDEV_FIELDS = (
    "receive_bytes", "receive_packets", "receive_errs", "receive_drop", "receive_fifo",
    "receive_frame", "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop", "transmit_fifo",
    "transmit_colls", "transmit_carrier", "transmit_compressed",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NetDev:
    """One interface line of /proc/net/dev: the 16 counters in NETDEV_FIELDS order."""

    device: str
    counters: tuple[int, ...]


# /sys/class/net/<dev>/<file> -> node_network_<name>, integer-valued, as node_exporter 1.5
NETCLASS_FILES = (
    ("addr_assign_type", "address_assign_type"),
    ("carrier", "carrier"),
    ("carrier_changes", "carrier_changes_total"),
    ("carrier_up_count", "carrier_up_changes_total"),
    ("carrier_down_count", "carrier_down_changes_total"),
    ("dev_id", "device_id"),
    ("dormant", "dormant"),
    ("flags", "flags"),
    ("ifindex", "iface_id"),
    ("iflink", "iface_link"),
    ("link_mode", "iface_link_mode"),
    ("mtu", "mtu_bytes"),
    ("name_assign_type", "name_assign_type"),
    ("netdev_group", "net_dev_group"),
    ("speed", "speed_bytes"),
    ("tx_queue_len", "transmit_queue_length"),
    ("type", "protocol_type"),
)


# attributes fixed for a device's life or changed only by hand (`ip link set ... txqueuelen`,
# `group`, `alias`): read again once a minute, and at once for a new device
NETCLASS_STATIC = frozenset(
    ("addr_assign_type", "dev_id", "ifindex", "iflink", "name_assign_type", "type",
     "link_mode", "netdev_group", "tx_queue_len")
)  # fmt: skip
NETCLASS_STATIC_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class NetClass:
    """/sys/class/net/<dev>: the integer attributes that could be read, and the info strings."""

    device: str
    values: dict[str, int]  # sysfs file name -> value (files that failed are absent)
    address: str = ""
    broadcast: str = ""
    duplex: str = ""
    operstate: str = ""
    ifalias: str = ""


@dataclass(frozen=True, slots=True)
class Conntrack:
    """nf_conntrack table size and limit, and /proc/net/stat/nf_conntrack summed over CPUs."""

    entries: int
    limit: int
    stats: dict[str, int]


@dataclass(frozen=True, slots=True)
class Softnet:
    """One CPU's line of /proc/net/softnet_stat."""

    cpu: str
    processed: int
    dropped: int
    time_squeeze: int
    received_rps: int | None = None
    flow_limit_count: int | None = None


@dataclass(frozen=True, slots=True)
class Timex:
    """adjtimex(2) read-only, in node_exporter's units (seconds, ratio, hertz)."""

    sync_status: int
    offset_seconds: float
    frequency_adjustment_ratio: float
    maxerror_seconds: float
    estimated_error_seconds: float
    status: int
    loop_time_constant: int
    tick_seconds: float
    pps_frequency_hertz: float
    pps_jitter_seconds: float
    pps_shift_seconds: int
    pps_stability_hertz: float
    pps_jitter_total: int
    pps_calibration_total: int
    pps_error_total: int
    pps_stability_exceeded_total: int
    tai_offset_seconds: int


# conntrack stat columns node_exporter exports (procfs ConntrackStatEntry)
CONNTRACK_STATS = (
    "found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop",
    "search_restart",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class UdpQueues:
    """Bytes queued in UDP sockets (/proc/net/udp, udp6): tx and rx, v6 None when absent."""

    v4_tx: int
    v4_rx: int
    v6_tx: int | None = None
    v6_rx: int | None = None


# /proc/<pid>/stat state letter -> Telegraf processes field (Linux)
PROCESS_STATES = {
    b"R": "running", b"S": "sleeping", b"D": "blocked", b"Z": "zombies", b"X": "dead",
    b"T": "stopped", b"t": "stopped", b"W": "paging", b"I": "idle", b"P": "parked",
}  # fmt: skip
_TELEGRAF_STATES = ("blocked", "zombies", "stopped", "running", "sleeping", "unknown", "dead",
                    "paging", "idle")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProcessStates:
    """Processes by state (Telegraf's field names), their number and their threads."""

    states: dict[str, int]
    total: int
    threads: int


class KernelReader:
    """Reads the kernel sources of the vmstat, timex, entropy, filefd, diskstats, netdev,
    netclass, arp, conntrack, sockstat, softnet and netstat collectors."""

    def __init__(
        self,
        procfs: Path = Path("/proc"),
        sysfs: Path = Path("/sys"),
        vmstat_fields: Callable[[str], bool] | None = None,
        netstat_fields: Callable[[str], bool] | None = None,
    ) -> None:
        self.procfs = str(procfs)
        # descriptors kept open and re-read (exporter.openfiles) on the real procfs and sysfs
        self.proc_files = OpenFiles(kernel_fs(self.procfs))
        self._vmstat_keep = _Selection(vmstat_fields)
        self._netstat_keep = _Selection(netstat_fields)
        self.sysfs = str(sysfs)
        self.sys_files = OpenFiles(kernel_fs(self.sysfs))
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self._net_class = f"{self.sysfs}/class/net"
        # device -> (monotonic time read, static integer attributes, address, broadcast, alias)
        self._static: dict[str, tuple[float, dict[str, int], str, str, str]] = {}
        self._adjtimex = _load_adjtimex()

    def _read(self, rel: str) -> bytes:
        return self.proc_files.read(f"{self.procfs}/{rel}")

    def vmstat(self) -> dict[str, int]:
        """Every /proc/vmstat counter (the collector selects node_exporter's default set)."""
        return parse_keyvalues(self._read("vmstat"), self._vmstat_keep)

    def filefd(self) -> FileFD:
        """Allocated and maximum file handles."""
        parts = self._read("sys/fs/file-nr").split()
        return FileFD(int(parts[0]), int(parts[2]))

    def entropy(self) -> Entropy:
        """Available entropy and the pool size in bits."""
        avail = int(self._read("sys/kernel/random/entropy_avail"))
        pool = int(self._read("sys/kernel/random/poolsize"))
        return Entropy(avail, pool)

    def diskstats(self, keep: Callable[[str], bool] | None = None) -> tuple[DiskStats, ...]:
        """The lines of /proc/diskstats whose device `keep` accepts (every line without it)."""
        return parse_diskstats(self._read("diskstats"), keep)

    def netdev(self) -> tuple[NetDev, ...]:
        """Every interface of /proc/net/dev."""
        return parse_netdev(self._read("net/dev"))

    def netclass(self) -> tuple[NetClass, ...]:
        """The attributes of every interface under /sys/class/net."""
        base = self._net_class
        out = []
        now = time.monotonic()
        names = sorted(os.listdir(base))
        static = self._static
        read_sys = self.sys_files.attr
        for gone in static.keys() - set(names):
            del static[gone]
            self.sys_files.forget(f"{base}/{gone}/")
        for name in names:
            path = f"{base}/{name}"
            cached = static.get(name)
            if cached is None or now - cached[0] > NETCLASS_STATIC_SECONDS:
                if not os.path.isdir(path):
                    continue  # bonding_masters and the like
                fixed: dict[str, int] = {}
                for fname in NETCLASS_STATIC:
                    raw = _read_sys(f"{path}/{fname}")
                    if raw is not None and raw.lstrip(b"-").isdigit():
                        fixed[fname] = int(raw)
                cached = static[name] = (
                    now, fixed, _text(_read_sys(f"{path}/address")),
                    _text(_read_sys(f"{path}/broadcast")), _text(_read_sys(f"{path}/ifalias")),
                )  # fmt: skip
            values: dict[str, int] = dict(cached[1])
            for fname, _ in NETCLASS_FILES:
                if fname in NETCLASS_STATIC:
                    continue
                raw = read_sys(f"{path}/{fname}")
                if raw is None:
                    continue  # EINVAL on a down link's speed, absent on old kernels
                try:
                    values[fname] = int(raw, 16) if fname == "flags" else int(raw)
                except ValueError:
                    continue
            nohandler = read_sys(f"{path}/statistics/rx_nohandler")
            if nohandler is not None and nohandler.isdigit():
                values["rx_nohandler"] = int(nohandler)
            out.append(
                NetClass(
                    name, values,
                    address=cached[2],
                    broadcast=cached[3],
                    duplex=_text(read_sys(f"{path}/duplex")),
                    operstate=_text(read_sys(f"{path}/operstate")),
                    ifalias=cached[4],
                )
            )  # fmt: skip
        return tuple(out)

    def arp(self) -> dict[str, int]:
        """ARP entries per device (/proc/net/arp)."""
        return parse_arp(self._read("net/arp"))

    def conntrack(self) -> Conntrack:
        """Table size, limit and per-CPU statistics summed (FileNotFoundError without
        nf_conntrack loaded)."""
        entries = int(self._read("sys/net/netfilter/nf_conntrack_count"))
        limit = int(self._read("sys/net/netfilter/nf_conntrack_max"))
        try:
            stats = parse_conntrack_stat(self._read("net/stat/nf_conntrack"))
        except FileNotFoundError:
            stats = {}
        return Conntrack(entries, limit, stats)

    def sockstat(self) -> dict[str, int]:
        """/proc/net/sockstat and sockstat6 as node_exporter's `<PROTO>_<field>` names, with
        `_mem_bytes` for the page counts and `sockets_used`."""
        out = parse_sockstat(self._read("net/sockstat"), self.page_size)
        with contextlib.suppress(FileNotFoundError):  # IPv6 disabled
            out.update(parse_sockstat(self._read("net/sockstat6"), self.page_size))
        return out

    def softnet(self) -> tuple[Softnet, ...]:
        """One line per CPU of /proc/net/softnet_stat."""
        return parse_softnet(self._read("net/softnet_stat"))

    def netstat(self) -> dict[str, int]:
        """/proc/net/netstat, snmp and snmp6 as `<Proto>_<Field>` counters (every field; the
        collector selects node_exporter's default set)."""
        keep = self._netstat_keep
        out = parse_netstat(self._read("net/netstat"), keep)
        out.update(parse_netstat(self._read("net/snmp"), keep))
        with contextlib.suppress(FileNotFoundError):  # IPv6 disabled
            out.update(parse_snmp6(self._read("net/snmp6"), keep))
        return out

    def processes(self) -> ProcessStates:
        """Every /proc/<pid>/stat: state and thread count (Telegraf's processes input)."""
        states = dict.fromkeys(_TELEGRAF_STATES, 0)
        total = threads = 0
        for pid in os.listdir(self.procfs):
            if not pid.isdigit():
                continue
            try:
                raw = _read_raw(f"{self.procfs}/{pid}/stat")
            except OSError:
                continue  # exited meanwhile
            fields = raw[raw.rfind(b")") + 2 :].split()
            if len(fields) < 18:
                continue
            name = PROCESS_STATES.get(fields[0][:1], "unknown")
            states[name] = states.get(name, 0) + 1
            total += 1
            threads += int(fields[17])
        return ProcessStates(states, total, threads)

    def udp_queues(self) -> UdpQueues:
        """Sums of the tx_queue and rx_queue columns of /proc/net/udp and udp6."""
        tx4, rx4 = parse_udp_queues(self._read("net/udp"))
        try:
            tx6, rx6 = parse_udp_queues(self._read("net/udp6"))
        except FileNotFoundError:
            return UdpQueues(tx4, rx4)
        return UdpQueues(tx4, rx4, tx6, rx6)

    def timex(self) -> Timex:
        """adjtimex(2) with modes 0 (no change; unprivileged). PermissionError where a seccomp
        profile or the platform refuses it: node_exporter then leaves the metrics out too."""
        if self._adjtimex is None:
            raise FileNotFoundError(errno.ENOSYS, "adjtimex is not available")
        return self._adjtimex()


def _read_raw(path: str) -> bytes:
    # os.open/os.read: a third of open()'s cost, and sysfs/proc files are read whole at once
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 65536)]
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_sys(path: str) -> bytes | None:
    # for the static attributes, read once a minute: no descriptor is kept for them
    # (a sysfs attribute is at most a page and comes in one read)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 8192).strip()
    except OSError:
        return None  # EINVAL: speed of a link that is down
    finally:
        os.close(fd)


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


class _Selection:
    """Which field names a collector keeps: the predicate (a regex match in practice) runs
    once per name, then the answer is looked up; None keeps every field.

    It also remembers layouts: for a file's field-name line (netstat, snmp) or its sequence of
    names (vmstat, snmp6), which positions are kept and under which names. The kernel writes
    the same names in the same order at every read, so a scrape converts only the kept values
    and does not look at the others' names.
    """

    __slots__ = ("_known", "_layouts", "_predicate")

    def __init__(self, predicate: Callable[[str], bool] | None) -> None:
        self._predicate = predicate
        self._known: dict[bytes, str | None] = {}
        self._layouts: dict[object, tuple[tuple[int, str], ...]] = {}

    def name(self, raw: bytes, prefix: bytes = b"") -> str | None:
        """The field's name if kept, else None."""
        key = prefix + b"_" + raw if prefix else raw
        try:
            return self._known[key]
        except KeyError:
            text = key.decode()
            keep = self._predicate is None or self._predicate(text)
            self._known[key] = found = text if keep else None
            return found

    def layout(self, key: object) -> tuple[tuple[int, str], ...] | None:
        """The remembered (position, name) pairs kept for a layout, or None."""
        return self._layouts.get(key)

    def remember(self, key: object, kept: list[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
        """Remember a layout's kept pairs (a few per file; bounded against a changing one)."""
        if len(self._layouts) >= LAYOUTS_MAX:
            self._layouts.clear()
        found = self._layouts[key] = tuple(kept)
        return found


LAYOUTS_MAX = 64
_ALL = _Selection(None)


def parse_keyvalues(raw: bytes, keep: _Selection = _ALL) -> dict[str, int]:
    """`key value` lines (/proc/vmstat)."""
    return _name_values(raw, keep, keep.name, _parse_keyvalue_lines)


def _name_values(
    raw: bytes,
    keep: _Selection,
    name: Callable[[bytes], str | None],
    by_lines: Callable[[bytes, _Selection], dict[str, int]],
) -> dict[str, int]:
    """One `name value` pair a line, the kept values under `name(key)`, through the
    remembered layout of the names; `by_lines` parses text of another shape."""
    tokens = raw.split()
    names = tuple(tokens[0::2])
    if len(tokens) % 2 or len(names) != raw.count(b"\n") + (not raw.endswith(b"\n")):
        return by_lines(raw, keep)  # not one `name value` pair per line
    kept = keep.layout(names)
    if kept is None:
        kept = keep.remember(names, [(2 * i + 1, found) for i, key in enumerate(names)
                                     if (found := name(key)) is not None])  # fmt: skip
    return {found: int(tokens[i]) for i, found in kept}


def _parse_keyvalue_lines(raw: bytes, keep: _Selection) -> dict[str, int]:
    out: dict[str, int] = {}
    name = keep.name
    for line in raw.split(b"\n"):
        key, _, value = line.partition(b" ")
        if value:
            found = name(key)
            if found is not None:
                out[found] = int(value)
    return out


def parse_diskstats(
    raw: bytes, keep: Callable[[str], bool] | None = None
) -> tuple[DiskStats, ...]:
    """/proc/diskstats: 14 fields before kernel 4.18, 18 with discards, 20 with flushes.

    Lines of devices `keep` refuses (node_exporter's exclusion: loop, ram, partitions) are
    skipped before their numbers are converted.
    """
    out = []
    for line in raw.split(b"\n"):
        parts = line.split()
        n = len(parts)
        if n < 14 or (keep is not None and not keep(parts[2].decode())):
            continue
        v = [int(p) for p in parts[3:]]
        extra: list[int | None] = [*v[11:17]]
        extra.extend([None] * (6 - len(extra)))
        out.append(DiskStats(parts[2].decode(), *v[:11], *extra))
    return tuple(out)


def parse_netdev(raw: bytes) -> tuple[NetDev, ...]:
    """/proc/net/dev: the two header lines, then `name: 16 counters`."""
    out = []
    for line in raw.split(b"\n")[2:]:
        name, sep, rest = line.partition(b":")
        if not sep:
            continue
        values = tuple(int(p) for p in rest.split())
        if len(values) >= 16:
            out.append(NetDev(name.strip().decode(), values[:16]))
    return tuple(out)


def parse_arp(raw: bytes) -> dict[str, int]:
    """Entries of /proc/net/arp counted per device (the last column)."""
    out: dict[str, int] = {}
    for line in raw.split(b"\n")[1:]:
        parts = line.split()
        if len(parts) >= 6:
            dev = parts[5].decode()
            out[dev] = out.get(dev, 0) + 1
    return out


def parse_conntrack_stat(raw: bytes) -> dict[str, int]:
    """/proc/net/stat/nf_conntrack: a header, then one line of hex counters per CPU, summed."""
    lines = raw.split(b"\n")
    header = [h.decode() for h in lines[0].split()]
    totals = dict.fromkeys(CONNTRACK_STATS, 0)
    for line in lines[1:]:
        parts = line.split()
        if len(parts) != len(header):
            continue
        for key, value in zip(header, parts, strict=True):
            if key in totals:
                totals[key] += int(value, 16)
    return {k: v for k, v in totals.items() if k in header}


def parse_sockstat(raw: bytes, page_size: int) -> dict[str, int]:
    """`PROTO: key value key value` lines; `mem` (pages) also as `mem_bytes`."""
    out: dict[str, int] = {}
    for line in raw.split(b"\n"):
        proto, sep, rest = line.partition(b":")
        if not sep:
            continue
        parts = rest.split()
        if proto == b"sockets":
            if len(parts) >= 2 and parts[0] == b"used":
                out["sockets_used"] = int(parts[1])
            continue
        p = proto.decode()
        for i in range(0, len(parts) - 1, 2):
            key = parts[i].decode()
            value = int(parts[i + 1])
            out[f"{p}_{key}"] = value
            if key == "mem":
                out[f"{p}_mem_bytes"] = value * page_size
    return out


def parse_softnet(raw: bytes) -> tuple[Softnet, ...]:
    """softnet_stat: hex columns processed, dropped, time_squeeze, ..., received_rps (10th),
    flow_limit_count (11th); the CPU is the 13th column where the kernel writes it (5.10+),
    else the line number."""
    out = []
    for i, line in enumerate(raw.split(b"\n")):
        parts = line.split()
        if len(parts) < 3:
            continue
        cpu = str(int(parts[12], 16)) if len(parts) >= 13 else str(i)
        rps = int(parts[9], 16) if len(parts) >= 10 else None
        flow = int(parts[10], 16) if len(parts) >= 11 else None
        out.append(Softnet(cpu, int(parts[0], 16), int(parts[1], 16), int(parts[2], 16), rps, flow))
    return tuple(out)


def parse_netstat(raw: bytes, keep: _Selection = _ALL) -> dict[str, int]:
    """/proc/net/netstat and snmp: pairs of `Proto: names` / `Proto: values` lines."""
    out: dict[str, int] = {}
    lines = raw.split(b"\n")
    for i in range(0, len(lines) - 1, 2):
        head = lines[i]
        kept = keep.layout(head)
        if kept is None:
            names = head.split()
            if not names:
                continue
            proto = names[0][:-1]
            select = keep.name
            kept = keep.remember(head, [(j, found) for j, name in enumerate(names[1:], 1)
                                        if (found := select(name, proto)) is not None])  # fmt: skip
        if not kept:
            continue
        values = lines[i + 1].split()
        if not values or not head.startswith(values[0] + b" "):
            continue  # not the value line of this header (the kernel writes them in pairs)
        n = len(values)
        for j, found in kept:
            if j < n:
                out[found] = int(values[j])
    return out


def parse_udp_queues(raw: bytes) -> tuple[int, int]:
    """The `tx_queue:rx_queue` column (5th, hex) of a /proc/net/udp table, summed."""
    tx = rx = 0
    for line in raw.split(b"\n")[1:]:
        parts = line.split(None, 5)
        if len(parts) >= 5:
            t, _, r = parts[4].partition(b":")
            tx += int(t, 16)
            rx += int(r, 16)
    return tx, rx


_SNMP6_PREFIXES = (b"Ip6", b"Icmp6", b"UdpLite6", b"Udp6")


def parse_snmp6(raw: bytes, keep: _Selection = _ALL) -> dict[str, int]:
    """/proc/net/snmp6: `Ip6InReceives 1` lines become `Ip6_InReceives` (node_exporter's
    split after the protocol prefix: Ip6, Icmp6, Udp6, UdpLite6)."""
    return _name_values(raw, keep, lambda key: _snmp6_name(key, keep), _parse_snmp6_lines)


def _snmp6_name(key: bytes, keep: _Selection) -> str | None:
    for prefix in _SNMP6_PREFIXES:
        if key.startswith(prefix):
            return keep.name(key[len(prefix) :], prefix)
    return None


def _parse_snmp6_lines(raw: bytes, keep: _Selection) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in raw.split(b"\n"):
        parts = line.split()
        if len(parts) == 2:
            found = _snmp6_name(parts[0], keep)
            if found is not None:
                out[found] = int(parts[1])
    return out


class _TimexStruct(ctypes.Structure):
    # struct timex of <sys/timex.h> (glibc, 64-bit and 32-bit: longs and ints in this order)
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11),
    ]  # fmt: skip


_TIME_ERROR = 5  # TIME_ERROR: the clock is not synchronised
_STA_NANO = 0x2000
_PPM16 = 1_000_000.0 * 65536.0


def _load_adjtimex() -> Callable[[], Timex] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.adjtimex
    except (OSError, AttributeError):
        return None

    def call() -> Timex:
        tx = _TimexStruct()
        state = fn(ctypes.byref(tx))
        if state < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        div = 1e9 if tx.status & _STA_NANO else 1e6
        return Timex(
            sync_status=0 if state == _TIME_ERROR else 1,
            offset_seconds=tx.offset / div,
            frequency_adjustment_ratio=1 + tx.freq / _PPM16,
            maxerror_seconds=tx.maxerror / 1e6,
            estimated_error_seconds=tx.esterror / 1e6,
            status=tx.status,
            loop_time_constant=tx.constant,
            tick_seconds=tx.tick / 1e6,
            pps_frequency_hertz=tx.ppsfreq / _PPM16,
            pps_jitter_seconds=tx.jitter / div,
            pps_shift_seconds=tx.shift,
            pps_stability_hertz=tx.stabil / _PPM16,
            pps_jitter_total=tx.jitcnt,
            pps_calibration_total=tx.calcnt,
            pps_error_total=tx.errcnt,
            pps_stability_exceeded_total=tx.stbcnt,
            tai_offset_seconds=tx.tai,
        )

    return call
