"""Host sampling: the only module that imports psutil; every reading is a frozen dataclass.

psutil answers logins (utmp); /proc and /sys are read directly where psutil has no call or
would read a source a second time (meminfo keys, /proc/stat's process counters,
/proc/pressure, mounts as seen by PID 1, hwmon in node_exporter's naming, os-release). Disk
and network counters, with every other node_exporter source psutil lacks, are
exporter.kernelstats's: one read of /proc/diskstats and /proc/net/dev serves every series.
Per-CPU times come from /proc/stat too: psutil numbers CPUs by their
position in the file, while the kernel names them `cpuN`, and with a CPU offline (or
hot-plugged) position and number differ; node_exporter labels `cpu` with N, and so do we.
The psutil module and the proc, sys and root paths are constructor arguments, so tests feed real
psutil namedtuples and a container points the sampler at the host's /proc and /sys.

Example::

    sampler = Sampler(procfs=Path("/host/proc"), sysfs=Path("/host/sys"))
    cpus = sampler.cpu()            # tuple[CpuTimes, ...]
    mem = sampler.memory()          # MemInfo
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from exporter import schema
from exporter.openfiles import OpenFiles, kernel_fs

log = logging.getLogger(__name__)

_CLK_TCK = os.sysconf("SC_CLK_TCK")  # USER_HZ: the unit of /proc/stat's CPU times
IFF_UP = 0x1  # /sys/class/net/<dev>/flags: administratively up (`ip link set up`)
IFF_LOOPBACK = 0x8
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# psutil's hwmon reader and its labels differ from node_exporter's; invalid name characters
# become "_" exactly as node_exporter's cleanMetricName does.
_HWMON_INVALID = re.compile(r"[^a-z0-9:_]")
_OS_RELEASE_KEYS = (
    "build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
    "variant", "variant_id", "version", "version_codename", "version_id",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds one CPU spent in each mode since boot (psutil.cpu_times(percpu=True))."""

    cpu: str
    user: float
    nice: float
    system: float
    idle: float
    iowait: float
    irq: float
    softirq: float
    steal: float
    guest: float
    guest_nice: float


@dataclass(frozen=True, slots=True)
class MemInfo:
    """/proc/meminfo: key -> value in bytes (kB lines scaled), unit-less keys kept as counts."""

    values: dict[str, int]
    unitless: frozenset[str] = frozenset()

    def get(self, key: str, default: int = 0) -> int:
        """Value of one key, `default` when the kernel does not report it."""
        return self.values.get(key, default)


@dataclass(frozen=True, slots=True)
class KernelStats:
    """The process and interrupt counters of /proc/stat, and the boot time."""

    boot_time: float
    context_switches: int
    interrupts: int
    forks: int
    procs_running: int
    procs_blocked: int


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of the mount table."""

    device: str
    mountpoint: str
    fstype: str
    readonly: bool


@dataclass(frozen=True, slots=True)
class FsUsage:
    """statvfs of one mount; `device_error` when the stat failed or timed out."""

    mount: Mount
    size: int = 0
    free: int = 0
    avail: int = 0
    files: int = 0
    files_free: int = 0
    device_error: bool = False


@dataclass(frozen=True, slots=True)
class DiskIO:
    """Counters of one block device (psutil.disk_io_counters(perdisk=True)); times in ms."""

    device: str
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    read_time_ms: int
    write_time_ms: int
    reads_merged: int
    writes_merged: int
    busy_time_ms: int


@dataclass(frozen=True, slots=True)
class DiskQueue:
    """What psutil leaves out of /proc/diskstats: requests in flight, and their weighted ms."""

    device: str
    in_progress: int
    weighted_time_ms: int


@dataclass(frozen=True, slots=True)
class SwapActivity:
    """Bytes swapped in and out since boot: /proc/vmstat pswpin, pswpout times the page size."""

    swapped_in: int
    swapped_out: int


@dataclass(frozen=True, slots=True)
class Logins:
    """utmp login sessions (psutil.users()): how many, and how many distinct user names."""

    sessions: int
    users: int


@dataclass(frozen=True, slots=True)
class NetIO:
    """Counters of one network interface (psutil.net_io_counters(pernic=True)) and operstate."""

    device: str
    bytes_recv: int
    bytes_sent: int
    packets_recv: int
    packets_sent: int
    errin: int
    errout: int
    dropin: int
    dropout: int
    up: bool


@dataclass(frozen=True, slots=True)
class Pressure:
    """Cumulative stall seconds of /proc/pressure/<resource> (`full` is None when absent)."""

    resource: str
    some: float
    full: float | None


@dataclass(frozen=True, slots=True)
class Temperature:
    """One hwmon temperature input, labelled as node_exporter labels it."""

    chip: str
    sensor: str
    celsius: float
    chip_name: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class HostInfo:
    """uname and os-release: what dashboards use to select a host."""

    uname: dict[str, str]
    os_release: dict[str, str] = field(default_factory=dict)


class Sampler:
    """Reads the host. Each method is one source and raises OSError/ValueError on failure."""

    def __init__(
        self,
        procfs: Path = Path("/proc"),
        sysfs: Path = Path("/sys"),
        rootfs: Path = Path("/"),
        ps: ModuleType | Any = psutil,
        statvfs: Any = os.statvfs,
        utmp: Path = Path("/var/run/utmp"),
    ) -> None:
        self.procfs = Path(procfs)
        self.sysfs = Path(sysfs)
        self.rootfs = Path(rootfs)
        self.ps = ps
        self.statvfs = statvfs
        self.utmp = Path(utmp)
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self.clock_ticks = _CLK_TCK
        if ps is psutil:
            psutil.PROCFS_PATH = str(self.procfs)
        self._stat_path = str(self.procfs / "stat")
        self._meminfo_path = str(self.procfs / "meminfo")
        self._loadavg_path = str(self.procfs / "loadavg")
        self._meminfo_names: dict[str, tuple[str, int]] = {}
        # /proc/stat, meminfo, loadavg, mounts, pressure: kept open, re-read (exporter.openfiles)
        self.files = OpenFiles(kernel_fs(str(self.procfs)))
        # the mount table changes rarely: its last text and parse (Mounts are immutable)
        self._mounts: tuple[bytes, tuple[Mount, ...]] = (b"", ())
        self._stat_for_kernel: tuple[float, bytes] = (0.0, b"")  # see kernel()
        self._meminfo_layout: MeminfoLayout | None = None
        self._mounts_paths = (str(self.procfs / "1" / "mounts"),
                              str(self.procfs / "self" / "mounts"))  # fmt: skip

    # -- fast sources: read at every scrape ------------------------------------------------
    def cpu(self) -> tuple[CpuTimes, ...]:
        """Per-CPU mode seconds, labelled with the kernel's CPU number (`cpuN` in /proc/stat)."""
        raw = self.files.read(self._stat_path)
        self._stat_for_kernel = (time.monotonic(), raw)
        return parse_cpu_stat(raw, self.clock_ticks)

    def memory(self) -> MemInfo:
        """Every /proc/meminfo key (psutil exposes only a subset)."""
        raw = self.files.read(self._meminfo_path)
        tokens = raw.split()
        layout = self._meminfo_layout
        if layout is not None:
            found = layout.apply(tokens)
            if found is not None:
                return found
        info = parse_meminfo(raw.decode("ascii", "replace"))
        self._meminfo_layout = MeminfoLayout.of(tokens, info)
        return info

    def kernel(self) -> KernelStats:
        """Boot time, context switches, interrupts, forks, running and blocked processes.

        A collection reads /proc/stat once: `cpu()` just before (within STAT_SHARE_SECONDS)
        leaves its text for this call, which takes it; otherwise the file is read here. The
        kernel generates it afresh at each read (every interrupt's count), about 25 us.
        """
        read_at, raw = self._stat_for_kernel
        self._stat_for_kernel = (0.0, b"")
        if not raw or time.monotonic() - read_at > STAT_SHARE_SECONDS:
            raw = self.files.read(self._stat_path)
        return parse_stat(raw.decode("ascii", "replace"))

    def load(self) -> tuple[float, float, float]:
        """1, 5 and 15 minute load averages."""
        parts = self.files.read(self._loadavg_path).split()
        return float(parts[0]), float(parts[1]), float(parts[2])

    def mounts(self) -> tuple[Mount, ...]:
        """The mount table as PID 1 sees it (the host's, also from inside a container)."""
        for path in self._mounts_paths:
            try:
                raw = self.files.read(path)
            except OSError:
                continue
            last_raw, last = self._mounts
            if raw == last_raw:
                return last  # the same tuple: Collection keeps its selection of it too
            mounts = parse_mounts(raw.decode("utf-8", "replace"))
            self._mounts = (raw, mounts)
            return mounts
        raise OSError(f"no readable mount table under {self.procfs}")

    def fs_usage(self, mount: Mount) -> FsUsage:
        """statvfs one mount point (may block on a dead network mount: see filesystems.py)."""
        path = mount.mountpoint
        if str(self.rootfs) != "/":
            path = str(self.rootfs) + mount.mountpoint
        st = self.statvfs(path)
        return FsUsage(
            mount,
            size=st.f_blocks * st.f_frsize,
            free=st.f_bfree * st.f_frsize,
            avail=st.f_bavail * st.f_frsize,
            files=st.f_files,
            files_free=st.f_ffree,
        )

    def pressure(self) -> tuple[Pressure, ...]:
        """PSI totals for each resource the kernel reports (none when PSI is off)."""
        base = f"{self.procfs}/pressure"
        out = []
        for resource in ("cpu", "io", "memory", "irq"):
            try:
                text = self.files.read(f"{base}/{resource}").decode("ascii", "replace")
            except FileNotFoundError:
                continue
            except OSError as exc:
                if resource == "cpu":
                    raise
                log.debug("pressure %s unreadable: %s", resource, exc)
                continue
            out.append(parse_pressure(resource, text))
        return tuple(out)

    # -- sources only Telegraf's schema has: read at the InfluxDB interval ----------------
    def logins(self) -> Logins | None:
        """utmp sessions and distinct users; None where there is no utmp (Telegraf then omits
        n_users). psutil reads the compiled-in /var/run/utmp, so `utmp` only says whether
        it exists."""
        if not self.utmp.exists():
            return None
        users = self.ps.users()
        return Logins(len(users), len({u.name for u in users}))

    # -- slow or static sources: refreshed in the background -------------------------------
    def temperatures(self) -> tuple[Temperature, ...]:
        """Every hwmon temp*_input, named as node_exporter names chips and sensors."""
        base = self.sysfs / "class" / "hwmon"
        out: list[Temperature] = []
        try:
            entries = sorted(os.listdir(base))
        except FileNotFoundError:
            return ()
        for entry in entries:
            hwmon = base / entry
            chip = hwmon_chip_name(hwmon)
            chip_name = _read_text(hwmon / "name")
            try:
                files = os.listdir(hwmon)
            except OSError:
                continue
            for fname in sorted(files):
                if not (fname.startswith("temp") and fname.endswith("_input")):
                    continue
                sensor = fname[: -len("_input")]
                try:
                    milli = int((hwmon / fname).read_text().strip())
                except (OSError, ValueError):
                    continue
                label = _read_text(hwmon / f"{sensor}_label")
                out.append(Temperature(chip, sensor, milli / 1000.0, chip_name, label))
        return tuple(out)

    def host_info(self) -> HostInfo:
        """uname (with the NIS domain name, as node_exporter reports it) and os-release."""
        u = os.uname()
        domain = _read_text(self.procfs / "sys" / "kernel" / "domainname") or "(none)"
        uname = {
            "sysname": u.sysname,
            "release": u.release,
            "version": u.version,
            "machine": u.machine,
            "nodename": u.nodename,
            "domainname": domain,
        }
        os_release: dict[str, str] = {}
        for rel in ("etc/os-release", "usr/lib/os-release"):
            text = _read_text(self.rootfs / rel)
            if text:
                os_release = parse_os_release(text)
                break
        return HostInfo(uname, os_release)


@dataclass(frozen=True, slots=True)
class MeminfoLayout:
    """Where /proc/meminfo's values are among its whitespace-split tokens.

    The kernel writes the same keys in the same order at every read; a read whose key tokens
    are those remembered converts its values in place of parsing each line (50 to 15 us).
    """

    count: int
    name_positions: tuple[int, ...]
    names: list[bytes]
    fields: tuple[tuple[str, int, int], ...]  # key, value position, multiplier
    unitless: frozenset[str]

    @classmethod
    def of(cls, tokens: list[bytes], info: MemInfo) -> MeminfoLayout | None:
        """The layout of one read, or None when its tokens are not `Key: value [kB]` only."""
        positions, fields = [], []
        i, n = 0, len(tokens)
        while i < n:
            name = tokens[i]
            if not name.endswith(b":") or i + 1 >= n:
                return None
            kb = i + 2 < n and tokens[i + 2] == b"kB"
            positions.append(i)
            fields.append((name[:-1].decode("ascii", "replace"), i + 1, 1024 if kb else 1))
            i += 3 if kb else 2
        layout = cls(n, tuple(positions), [tokens[p] for p in positions], tuple(fields),
                     info.unitless)  # fmt: skip
        return layout if layout.apply(tokens) == info else None

    def apply(self, tokens: list[bytes]) -> MemInfo | None:
        """The values of a read with this layout, or None when its keys differ."""
        if len(tokens) != self.count or [tokens[p] for p in self.name_positions] != self.names:
            return None
        return MemInfo({key: int(tokens[i]) * m for key, i, m in self.fields}, self.unitless)


def parse_meminfo(text: str) -> MemInfo:
    """Parse /proc/meminfo; "kB" values become bytes, names keep the kernel's spelling."""
    values: dict[str, int] = {}
    unitless: set[str] = set()
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        value = int(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            value *= 1024
        else:
            unitless.add(key)
        values[key] = value
    return MemInfo(values, frozenset(unitless))


def parse_cpu_stat(raw: bytes, clock_ticks: int = _CLK_TCK) -> tuple[CpuTimes, ...]:
    """The `cpuN` lines of /proc/stat as seconds, each labelled N (offline CPUs have no line)."""
    out: list[CpuTimes] = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"cpu"):
            if out:
                break  # the cpu lines come first and together
            continue
        parts = line.split()
        number = parts[0][3:]
        if not number:
            continue  # the "cpu" line: all CPUs summed
        values = [int(v) / clock_ticks for v in parts[1:11]]
        values.extend([0.0] * (10 - len(values)))  # older kernels: no steal, guest, guest_nice
        out.append(CpuTimes(number.decode(), *values))
    return tuple(out)


def parse_stat(text: str) -> KernelStats:
    """Parse the non-CPU lines of /proc/stat."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("cpu"):
            continue
        name, _, rest = line.partition(" ")
        if name in ("ctxt", "btime", "processes", "procs_running", "procs_blocked", "intr"):
            found[name] = int(rest.split(None, 1)[0])
    return KernelStats(
        boot_time=float(found["btime"]),
        context_switches=found.get("ctxt", 0),
        interrupts=found.get("intr", 0),
        forks=found.get("processes", 0),
        procs_running=found.get("procs_running", 0),
        procs_blocked=found.get("procs_blocked", 0),
    )


def _unescape_mount(field_: str) -> str:
    # The kernel octal-escapes space, tab, newline and backslash in /proc/mounts.
    if "\\" not in field_:
        return field_
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def parse_mounts(text: str) -> tuple[Mount, ...]:
    """Parse a /proc/<pid>/mounts table."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        options = parts[3].split(",")
        out.append(
            Mount(
                _unescape_mount(parts[0]),
                _unescape_mount(parts[1]),
                parts[2],
                "ro" in options,
            )
        )
    return tuple(out)


def parse_pressure(resource: str, text: str) -> Pressure:
    """Parse one /proc/pressure file into cumulative seconds."""
    some = 0.0
    full: float | None = None
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        total = 0.0
        for part in rest.split():
            if part.startswith("total="):
                total = int(part[6:]) / 1e6
        if kind == "some":
            some = total
        elif kind == "full":
            full = total
    return Pressure(resource, some, full)


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release into the lower-case keys node_os_info carries."""
    out = dict.fromkeys(_OS_RELEASE_KEYS, "")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key in out:
            out[key] = value
    return out


def hwmon_chip_name(hwmon: Path) -> str:
    """node_exporter's chip label: <bus>_<device> of the device link, else the name file."""
    try:
        device = Path(os.path.realpath(hwmon / "device"))
        if (hwmon / "device").exists():
            name = _clean(device.name)
            dev_type = _clean(device.parent.name)
            if dev_type and name:
                return f"{dev_type}_{name}"
            if name:
                return name
    except OSError:
        pass
    name = _clean(_read_text(hwmon / "name"))
    if name:
        return name
    return _clean(Path(os.path.realpath(hwmon)).name)


def _clean(text: str) -> str:
    return _HWMON_INVALID.sub("_", text.strip().lower()).strip("_")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


STAT_SHARE_SECONDS = 0.1  # cpu() and kernel() of one collection share one /proc/stat read


def compile_exclude(pattern: str) -> re.Pattern[str] | None:
    """Compile an exclusion regex; an empty pattern excludes nothing."""
    return re.compile(pattern) if pattern else None


DEFAULT_DISK_EXCLUDE = compile_exclude(schema.DISK_DEVICE_EXCLUDE)


def wall_time() -> float:
    """The current Unix time (node_time_seconds)."""
    return time.time()
