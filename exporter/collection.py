"""One collection of every source, shared by concurrent scrapes, with per-collector health.

Fast sources are read when a scrape asks; slow ones (hwmon temperatures: 25 ms to 1 s per read
on some boards) and static ones (uname, os-release) are refreshed by a background thread and
served from cache with their age. A source that raises gives no data and `success` 0 for its
collector; the rest of the snapshot is unaffected.

Example::

    collection = Collection(Sampler(), slow_refresh_seconds=15)
    collection.start()
    snap = collection.snapshot()     # concurrent callers share one collection
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from exporter import schema
from exporter.filesystems import BoundedStat, MountFilter, direct_mounts
from exporter.kernelstats import (
    SECTOR,
    Conntrack,
    DiskStats,
    Entropy,
    FileFD,
    KernelReader,
    NetClass,
    NetDev,
    ProcessStates,
    Softnet,
    Timex,
    UdpQueues,
)
from exporter.sampling import (
    CpuTimes,
    DiskIO,
    DiskQueue,
    FsUsage,
    HostInfo,
    KernelStats,
    Logins,
    MemInfo,
    Mount,
    NetIO,
    Pressure,
    Sampler,
    SwapActivity,
    Temperature,
    compile_exclude,
)
from exporter.textfile import TextfileRead, TextfileReader

log = logging.getLogger(__name__)
T = TypeVar("T")
_VMSTAT = re.compile(schema.VMSTAT_FIELDS)
_NETSTAT = re.compile(schema.NETSTAT_FIELDS)


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    """How one collector fared: success, duration, and cache age for background ones."""

    name: str
    success: bool
    duration: float
    age: float | None = None
    no_data: bool = False  # the source does not exist here (node_exporter's ErrNoData)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one collection read; a failed source leaves its field empty."""

    time: float
    cpus: tuple[CpuTimes, ...] = ()
    memory: MemInfo | None = None
    kernel: KernelStats | None = None
    load: tuple[float, float, float] | None = None
    filesystems: tuple[FsUsage, ...] = ()
    disks: tuple[DiskIO, ...] = ()
    network: tuple[NetIO, ...] = ()
    pressure: tuple[Pressure, ...] = ()
    temperatures: tuple[Temperature, ...] = ()
    host: HostInfo | None = None
    statuses: tuple[CollectorStatus, ...] = field(default=())
    # Telegraf-only sources, filled by Collection.influx_snapshot (scrapes never read them)
    disk_queues: tuple[DiskQueue, ...] = ()
    swap_activity: SwapActivity | None = None
    logins: Logins | None = None
    interface_flags: dict[str, int] | None = None  # name -> IFF_* flags; None when unread
    # sources psutil has no call for (exporter.kernelstats), read at every scrape
    diskstats: tuple[DiskStats, ...] = ()
    netdev: tuple[NetDev, ...] = ()
    netclass: tuple[NetClass, ...] = ()
    vmstat: dict[str, int] | None = None
    timex: Timex | None = None
    entropy: Entropy | None = None
    filefd: FileFD | None = None
    arp: dict[str, int] | None = None
    conntrack: Conntrack | None = None
    sockstat: dict[str, int] | None = None
    softnet: tuple[Softnet, ...] = ()
    netstat: dict[str, int] | None = None
    udp_queues: UdpQueues | None = None
    processes: ProcessStates | None = None  # Telegraf-only: read at the InfluxDB interval
    textfile: TextfileRead | None = None  # node_exporter's textfile collector (*.prom files)


def _disk_io(d: DiskStats) -> DiskIO:
    return DiskIO(
        d.device, d.reads, d.writes, d.read_sectors * SECTOR, d.write_sectors * SECTOR,
        d.read_ms, d.write_ms, d.reads_merged, d.writes_merged, d.io_ms,
    )  # fmt: skip


def _net_io(n: NetDev, up: bool) -> NetIO:
    c = n.counters  # NETDEV_FIELDS order
    return NetIO(n.device, c[0], c[8], c[1], c[9], c[2], c[10], c[3], c[11], up)


class _Call(Generic[T]):
    __slots__ = ("error", "event", "result")

    def __init__(self) -> None:
        self.event: threading.Event | None = None  # made by the first caller that must wait
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """Run `fn` once for all callers that arrive while it runs; they all get its result."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._inflight: _Call[T] | None = None

    def __call__(self) -> T:
        """The result of the running call, or of a new one if none runs."""
        with self._lock:
            call = self._inflight
            leader = call is None
            if call is None:
                call = self._inflight = _Call()
            elif call.event is None:
                call.event = threading.Event()
            event = call.event
        if leader:
            try:
                call.result = self._fn()
            except BaseException as exc:
                call.error = exc
            finally:
                with self._lock:
                    self._inflight = None
                    event = call.event  # every caller that joined did so under this lock
                if event is not None:
                    event.set()
        else:
            assert event is not None
            event.wait()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]


@dataclass(slots=True)
class _Cached(Generic[T]):
    value: T
    success: bool = False
    duration: float = 0.0
    refreshed: float = 0.0


class Collection:
    """Reads every source for a scrape; owns the background refresher of slow sources."""

    def __init__(
        self,
        sampler: Sampler,
        mount_filter: MountFilter | None = None,
        filesystem_timeout: float = 5.0,
        disk_exclude: str = schema.DISK_DEVICE_EXCLUDE,
        network_exclude: str = schema.NETWORK_DEVICE_EXCLUDE,
        slow_refresh_seconds: float = 15.0,
        textfile_directory: str = "",
    ) -> None:
        self.sampler = sampler
        self.textfile = TextfileReader(textfile_directory)
        # node_exporter's default vmstat and netstat field sets (matched once per field name)
        self.kernel = KernelReader(
            sampler.procfs,
            sampler.sysfs,
            vmstat_fields=lambda key: _VMSTAT.match(key) is not None,
            netstat_fields=lambda key: _NETSTAT.match(key) is not None,
        )
        self.mount_filter = mount_filter or MountFilter()
        self.stat = BoundedStat(sampler.fs_usage, filesystem_timeout)
        self._selected: tuple[tuple[Mount, ...], list[Mount], frozenset[str]] = (
            (), [], frozenset()
        )
        self._disks_kept: dict[str, bool] = {}
        self.disk_exclude = compile_exclude(disk_exclude)
        self.network_exclude = compile_exclude(network_exclude)
        self.slow_refresh_seconds = slow_refresh_seconds
        self.collections = 0
        self._failing: set[str] = set()
        self._temps: _Cached[tuple[Temperature, ...]] = _Cached(())
        self._host: _Cached[HostInfo | None] = _Cached(None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshot: SingleFlight[Snapshot] = SingleFlight(self._collect)
        self.refresh_host()

    # -- background refresh of slow and static sources ------------------------------------
    def start(self) -> None:
        """Start the background refresher (temperatures are read at once, then periodically)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._refresh_loop, name="slow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background refresher."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            self.refresh_temperatures()
            if self._stop.wait(self.slow_refresh_seconds):
                break
            self.refresh_host()

    def refresh_temperatures(self) -> None:
        """Read hwmon now and cache the result."""
        self._refresh(self._temps, "hwmon", self.sampler.temperatures)

    def refresh_host(self) -> None:
        """Read uname and os-release now and cache the result."""
        self._refresh(self._host, "uname", self.sampler.host_info)

    def _refresh(self, cache: _Cached[T], name: str, fn: Callable[[], T]) -> None:
        t0 = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:
            cache.success = False
            self._failed(name, exc)
        else:
            cache.value = value
            cache.success = True
            cache.refreshed = time.monotonic()
            self._recovered(name)
        cache.duration = time.perf_counter() - t0

    # -- one collection ---------------------------------------------------------------------
    def _failed(self, name: str, exc: BaseException) -> None:
        if name not in self._failing:
            self._failing.add(name)
            log.warning("collector %s failed, serving the other collectors: %s", name, exc)
        else:
            log.debug("collector %s still failing: %s", name, exc)

    def _recovered(self, name: str) -> None:
        if name in self._failing:
            self._failing.discard(name)
            log.info("collector %s works again", name)

    def _collect(self) -> Snapshot:
        statuses: list[CollectorStatus] = []
        perf = time.perf_counter
        s = self.sampler

        def run(name: str, fn: Callable[[], T], default: T, optional: bool = False) -> T:
            t0 = perf()
            try:
                value = fn()
            except (FileNotFoundError, PermissionError) as exc:
                if not optional:
                    statuses.append(CollectorStatus(name, False, perf() - t0))
                    self._failed(name, exc)
                    return default
                # a source this kernel lacks (no nf_conntrack, adjtimex refused): silent, as
                # node_exporter's "no data", success 0 on node_scrape_collector_success only
                statuses.append(CollectorStatus(name, False, perf() - t0, no_data=True))
                log.debug("collector %s has no data: %s", name, exc)
                return default
            except Exception as exc:
                statuses.append(CollectorStatus(name, False, perf() - t0))
                self._failed(name, exc)
                return default
            statuses.append(CollectorStatus(name, True, perf() - t0))
            if self._failing:
                self._recovered(name)
            return value

        self.collections += 1
        now = time.time()
        cpus: tuple[CpuTimes, ...] = run("cpu", s.cpu, ())
        memory: MemInfo | None = run("meminfo", s.memory, None)
        kernel: KernelStats | None = run("stat", s.kernel, None)
        load: tuple[float, float, float] | None = run("loadavg", s.load, None)
        filesystems: tuple[FsUsage, ...] = run("filesystem", self._filesystems, ())
        k = self.kernel
        diskstats: tuple[DiskStats, ...] = run("diskstats", self._diskstats, ())
        netdev: tuple[NetDev, ...] = run("netdev", self._netdev, ())
        netclass: tuple[NetClass, ...] = run("netclass", k.netclass, (), True)
        pressure: tuple[Pressure, ...] = run("pressure", s.pressure, ())
        vmstat = run("vmstat", k.vmstat, None)
        timex = run("timex", k.timex, None, True)
        entropy = run("entropy", k.entropy, None, True)
        filefd = run("filefd", k.filefd, None, True)
        arp = run("arp", k.arp, None, True)
        conntrack = run("conntrack", k.conntrack, None, True)
        sockstat = run("sockstat", k.sockstat, None, True)
        softnet: tuple[Softnet, ...] = run("softnet", k.softnet, (), True)
        netstat = run("netstat", k.netstat, None, True)
        udp_queues = run("udp_queues", k.udp_queues, None, True)
        textfile = run("textfile", self.textfile.read, None)
        up = {c.device: c.operstate == "up" for c in netclass}
        mono = time.monotonic()
        for name, cache in (("hwmon", self._temps), ("uname", self._host)):
            age = mono - cache.refreshed if cache.refreshed else None
            statuses.append(CollectorStatus(name, cache.success, cache.duration, age))
        return Snapshot(
            time=now,
            cpus=cpus,
            memory=memory,
            kernel=kernel,
            load=load,
            filesystems=filesystems,
            disks=tuple(_disk_io(d) for d in diskstats),
            network=tuple(_net_io(n, up.get(n.device, False)) for n in netdev),
            pressure=pressure,
            temperatures=self._temps.value,
            host=self._host.value,
            statuses=tuple(statuses),
            diskstats=diskstats,
            netdev=netdev,
            netclass=netclass,
            vmstat=vmstat,
            timex=timex,
            entropy=entropy,
            filefd=filefd,
            arp=arp,
            conntrack=conntrack,
            sockstat=sockstat,
            softnet=softnet,
            netstat=netstat,
            udp_queues=udp_queues,
            textfile=textfile,
        )

    def influx_snapshot(self) -> Snapshot:
        """A shared snapshot plus the sources only Telegraf's schema uses (disk queues, swap
        activity, logins), read at the InfluxDB interval so that scrapes never pay for them.
        A failing one is left out of the points and logged once, like a collector."""
        snap = self.snapshot()
        # diskstats, vmstat and netclass are read by every collection now: derived, not re-read
        swap = None
        if snap.vmstat is not None:
            page = self.sampler.page_size
            swap = SwapActivity(
                snap.vmstat.get("pswpin", 0) * page, snap.vmstat.get("pswpout", 0) * page
            )
        flags = None
        if snap.netclass:
            flags = {c.device: c.values["flags"] for c in snap.netclass if "flags" in c.values}
        return replace(
            snap,
            disk_queues=tuple(DiskQueue(d.device, d.io_now, d.weighted_ms) for d in snap.diskstats),
            swap_activity=swap,
            logins=self._extra("users", self.sampler.logins, None),
            interface_flags=flags,
            processes=self._extra("processes", self.kernel.processes, None),
        )

    def _extra(self, name: str, fn: Callable[[], T], default: T) -> T:
        try:
            value = fn()
        except Exception as exc:
            self._failed(name, exc)
            return default
        if self._failing:
            self._recovered(name)
        return value

    def _diskstats(self) -> tuple[DiskStats, ...]:
        return self.kernel.diskstats(self._disk_kept)

    def _disk_kept(self, device: str) -> bool:
        # the exclusion regex runs once per device name, not at every scrape
        kept = self._disks_kept.get(device)
        if kept is None:
            ex = self.disk_exclude
            kept = ex is None or not ex.match(device)
            if len(self._disks_kept) >= 4096:
                self._disks_kept.clear()
            self._disks_kept[device] = kept
        return kept

    def _netdev(self) -> tuple[NetDev, ...]:
        found = self.kernel.netdev()
        ex = self.network_exclude
        return found if ex is None else tuple(n for n in found if not ex.match(n.device))

    def _filesystems(self) -> tuple[FsUsage, ...]:
        table = self.sampler.mounts()
        last_table, mounts, direct = self._selected
        if table is not last_table:  # a new mount table: select again (two regexes a mount)
            mounts = self.mount_filter.select(table)
            # statfs in the scrape only where it cannot wait, and only on the host's own root
            # (under a container's rootfs_path the path walk crosses the container's mounts)
            local_root = str(self.sampler.rootfs) == "/"
            direct = direct_mounts(table, mounts) if local_root else frozenset()
            self._selected = (table, mounts, direct)
        return tuple(self.stat.stat_all(mounts, direct))
