"""Snapshots as Prometheus metric families with node_exporter's names, labels and units.

What /metrics serves comes from `HostCollector`, a prometheus_client custom collector
registered in the `CollectorRegistry` of an `Exposition`: its `collect()` yields metric families
(`prometheus_client.Metric`). The registry's families are written by `render`, a fast writer of
the two exposition formats: prometheus_client's own `generate_latest` would cost about as much
CPU again as the whole collection (see docs/performance.md); tests check that both writers
agree through prometheus_client's parsers. Inside the collector, `host_families` and friends
build light `Family` values from one snapshot, which pass through `CounterGuard` (so an
exported counter never goes down) before they become metric families.

Example::

    exposition = Exposition(collection)
    body = exposition.render(openmetrics=False)      # bytes of /metrics
    exposition.registry                              # CollectorRegistry holding HostCollector
"""

from __future__ import annotations

import logging
import math
import os
import platform
import resource
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample as ClientSample

from exporter import schema
from exporter.collection import Collection, SingleFlight, Snapshot
from exporter.families import NO_LABELS, Family, Labels, Sample
from exporter.kernelmetrics import kernel_families, scrape_families
from exporter.openfiles import OpenFiles
from exporter.textfile import textfile_families, without_clashes
from homelab import __version__

log = logging.getLogger(__name__)

__all__ = ["NO_LABELS", "Family", "Labels", "Sample"]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help_escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")


_LABEL_TEXT: dict[Labels, str] = {}
# A host has a few hundred label sets; transient ones (docker veths, hot-plugged disks) come
# and go, so the cache is emptied when it reaches this size rather than kept forever.
LABEL_CACHE_MAX = 4096


def label_text(labels: Labels) -> str:
    """`{a="x",b="y"}` for a label tuple (cached: most label sets repeat every scrape)."""
    text = _LABEL_TEXT.get(labels)
    if text is None:
        text = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}" if labels else ""
        if len(_LABEL_TEXT) >= LABEL_CACHE_MAX:
            _LABEL_TEXT.clear()
        _LABEL_TEXT[labels] = text
    return text


class LabelDict(dict[str, str]):
    """A sample's labels (a plain dict to prometheus_client) carrying their exposition text.

    One per label set, shared by every scrape: a scrape allocates no label dicts, and the
    renderer writes `text` without formatting. Nothing may modify it.
    """

    __slots__ = ("text",)
    text: str


_LABEL_DICTS: dict[Labels, LabelDict] = {}


def label_dict(labels: Labels) -> LabelDict:
    """The shared LabelDict of a label tuple (bounded like the label text cache)."""
    found = _LABEL_DICTS.get(labels)
    if found is None:
        found = LabelDict(labels)
        found.text = label_text(labels)
        if len(_LABEL_DICTS) >= LABEL_CACHE_MAX:
            _LABEL_DICTS.clear()
        _LABEL_DICTS[labels] = found
    return found


_INF = math.inf


def format_value(value: float) -> str:
    """A sample value as the exposition formats write it."""
    if value.__class__ is int:
        return str(value)
    if value != value:
        return "NaN"
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    return repr(float(value))


_NOTHING: dict[Labels, float] = {}


class CounterGuard:
    """Keeps exported counters monotonic: a counter reads max(previous, current).

    Only the series of the latest scrape are remembered. A series that is absent from a
    scrape (a docker veth that went away, an unplugged disk) is forgotten, so the guard does
    not grow with every label set ever seen, and a device recreated under the same name starts
    from its new, lower value: Prometheus's rate() takes that as a counter reset, as it does
    for node_exporter. A series present in every scrape never goes down.
    """

    def __init__(self) -> None:
        # per family name, the value of each label set in the latest scrape
        self._last: dict[str, dict[Labels, float]] = {}

    def __len__(self) -> int:
        """Number of counter series remembered (those of the latest scrape)."""
        return sum(len(series) for series in self._last.values())

    def remembered(self, name: str) -> dict[Labels, float]:
        """The label sets (and values) remembered for one counter family."""
        return dict(self._last.get(name, {}))

    def apply(self, families: Iterable[Family]) -> None:
        """Rewrite counter samples in place so none is below its value in the previous scrape."""
        last = self._last
        seen: dict[str, dict[Labels, float]] = {}
        for fam in families:
            if fam.kind != "counter":
                continue
            name = fam.name
            samples = fam.samples
            before = last.get(name)
            now = seen.get(name)
            if before is None and now is None:
                seen[name] = dict(samples)  # first sight of the family: nothing to hold up
                continue
            if now is None:
                now = seen[name] = {}
            get = (before if before is not None else _NOTHING).get
            for i, (labels, value) in enumerate(samples):
                prev = get(labels)
                if prev is not None and value < prev:
                    samples[i] = (labels, prev)
                    value = prev
                now[labels] = value
        self._last = seen


_HEADERS: dict[tuple[str, str, str], tuple[str, str]] = {}
# prometheus_client's text-format names and types for OpenMetrics types (generate_latest)
_TEXT_SUFFIX = {"counter": "_total", "info": "_info"}
_TEXT_TYPE = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
              "unknown": "untyped"}  # fmt: skip


def _headers(metric: Metric) -> tuple[str, str]:
    """(text format, OpenMetrics) HELP and TYPE lines of a family, cached."""
    key = (metric.name, metric.type, metric.documentation)
    cached = _HEADERS.get(key)
    if cached is None:
        cached = _header_lines(*key)
        if len(_HEADERS) >= LABEL_CACHE_MAX:
            _HEADERS.clear()
        _HEADERS[key] = cached
    return cached


def _header_lines(name: str, kind: str, doc: str) -> tuple[str, str]:
    text_name = name + _TEXT_SUFFIX.get(kind, "")
    text_kind = _TEXT_TYPE.get(kind, kind)
    text = f"# HELP {text_name} {_help_escape(doc)}\n# TYPE {text_name} {text_kind}\n"
    om_doc = _help_escape(doc).replace('"', r"\"")
    om = f"# HELP {name} {om_doc}\n# TYPE {name} {kind}\n"
    return text, om


class _Shape:
    """What a family name always needs, made once: its prometheus_client name (counters
    without `_total`), its HELP and TYPE lines in both formats, and its sample lines'
    `name{labels} ` prefixes (bounded with the label caches)."""

    __slots__ = ("base", "headers", "help", "kind", "prefixes")

    def __init__(self, name: str, kind: str, help_: str) -> None:
        base = name[:-6] if kind == "counter" and name.endswith("_total") else name
        Metric(base, help_, kind)  # raises on an invalid name or type, once per shape
        self.kind = kind
        self.help = help_
        self.base = base
        self.headers = _header_lines(base, kind, help_)
        self.prefixes: dict[Labels, str] = {}


_SHAPES: dict[str, _Shape] = {}
_PREFIX_COUNT = [0]


def _shape(fam: Family) -> _Shape:
    """The family's shape (a name whose type or help changed gets a new one)."""
    shape = _SHAPES.get(fam.name)
    if shape is None or shape.kind != fam.kind or shape.help != fam.help:
        if len(_SHAPES) >= LABEL_CACHE_MAX:
            _SHAPES.clear()
            _PREFIX_COUNT[0] = 0
        shape = _SHAPES[fam.name] = _Shape(fam.name, fam.kind, fam.help)
    return shape


def render(metrics: Iterable[Metric], openmetrics: bool = False) -> bytes:
    """The exposition text (0.0.4) or OpenMetrics 1.0.0 of metric families.

    It writes what a collector yields as prometheus_client's `generate_latest` would (same
    names, types, labels and values), but from cached HELP/TYPE lines and label strings.
    Sample timestamps and exemplars are not written: the collectors here have none.
    """
    out: list[str] = []
    append = out.append
    idx = 1 if openmetrics else 0
    for metric in metrics:
        if metric.__class__ is FamilyMetric:
            fam = metric.family
            if not fam.samples:
                continue
            shape = metric.shape
            append(shape.headers[idx])
            prefixes = shape.prefixes
            for labels, value in fam.samples:
                prefix = prefixes.get(labels)
                if prefix is None:
                    prefix = _new_prefix(fam.name, prefixes, labels)
                cls = value.__class__
                if cls is int or (cls is float and -_INF < value < _INF):
                    append(f"{prefix}{value!r}\n")  # what format_value gives, without the call
                else:
                    append(f"{prefix}{format_value(value)}\n")
            continue
        samples = metric.samples
        if not samples:
            continue
        append(_headers(metric)[idx])
        for s in samples:
            given = s.labels
            if given.__class__ is LabelDict:
                text = given.text
            else:
                text = label_text(tuple(given.items())) if given else ""
            append(f"{s.name}{text} {format_value(s.value)}\n")
    if openmetrics:
        append("# EOF\n")
    return "".join(out).encode()


def _new_prefix(name: str, prefixes: dict[Labels, str], labels: Labels) -> str:
    if _PREFIX_COUNT[0] >= LABEL_CACHE_MAX:
        for shape in _SHAPES.values():
            shape.prefixes.clear()
        _PREFIX_COUNT[0] = 0
    prefix = prefixes[labels] = f"{name}{label_text(labels)} "
    _PREFIX_COUNT[0] += 1
    return prefix


class FamilyMetric(Metric):
    """A prometheus_client metric family over a `Family` (counters named without `_total`).

    Its `Sample`s are built only when something reads `samples` (get_sample_value,
    generate_latest); `render` writes the Family's lines directly, so a scrape builds no
    Sample objects. Making one stores the Family and its cached shape (validated by
    prometheus_client once per name): the name, type and help prometheus_client reads come
    from them.

    Example::

        FamilyMetric(Family("node_load1", "gauge", "1m load average.", [((), 0.5)])).samples
    """

    unit = ""

    def __init__(self, fam: Family) -> None:
        self.family = fam
        shape = _SHAPES.get(fam.name)  # _shape's common case, inline: one per family a scrape
        if shape is None or shape.kind != fam.kind or shape.help != fam.help:
            shape = _shape(fam)  # ValueError on a name or type prometheus_client refuses
        self.shape = shape
        self._samples: list[ClientSample] | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        """The family name prometheus_client uses (a counter's without `_total`)."""
        return self.shape.base

    @property
    def documentation(self) -> str:  # type: ignore[override]
        """The HELP text."""
        return self.family.help

    @property
    def type(self) -> str:  # type: ignore[override]
        """The OpenMetrics type."""
        return self.family.kind

    @property
    def samples(self) -> list[ClientSample]:
        """prometheus_client Samples of the family, built at first use."""
        if self._samples is None:
            name = self.family.name
            self._samples = [
                ClientSample(name, label_dict(labels), value)
                for labels, value in self.family.samples
            ]
        return self._samples

    @samples.setter
    def samples(self, value: list[ClientSample]) -> None:
        self._samples = value


def to_metric(fam: Family) -> Metric:
    """A Family as a prometheus_client metric family (counters named without `_total`)."""
    return FamilyMetric(fam)


# -- snapshot -> families -------------------------------------------------------------------

_CPU_HELP = "Seconds the CPUs spent in each mode."
_DISK_FIELDS: tuple[tuple[str, str, str, float], ...] = (
    (schema.DISK_READS, "reads", "The total number of reads completed successfully.", 1.0),
    (schema.DISK_READS_MERGED, "reads_merged", "The total number of reads merged.", 1.0),
    (schema.DISK_READ_BYTES, "read_bytes", "The total number of bytes read successfully.", 1.0),
    (schema.DISK_READ_TIME, "read_time_ms", "The total number of seconds spent by all reads.",
     0.001),
    (schema.DISK_WRITES, "writes", "The total number of writes completed successfully.", 1.0),
    (schema.DISK_WRITES_MERGED, "writes_merged", "The number of writes merged.", 1.0),
    (schema.DISK_WRITTEN_BYTES, "write_bytes", "The total number of bytes written successfully.",
     1.0),
    (schema.DISK_WRITE_TIME, "write_time_ms",
     "This is the total number of seconds spent by all writes.", 0.001),
    (schema.DISK_IO_TIME, "busy_time_ms", "Total seconds spent doing I/Os.", 0.001),
)  # fmt: skip
_NET_FIELDS: tuple[tuple[str, str], ...] = (
    ("receive_bytes", "bytes_recv"),
    ("receive_packets", "packets_recv"),
    ("receive_errs", "errin"),
    ("receive_drop", "dropin"),
    ("transmit_bytes", "bytes_sent"),
    ("transmit_packets", "packets_sent"),
    ("transmit_errs", "errout"),
    ("transmit_drop", "dropout"),
)
_NET_FAMILIES = tuple(
    (f"{schema.NETWORK_PREFIX}{suffix}_total", f"Network device statistic {suffix}.", attr)
    for suffix, attr in _NET_FIELDS
)
_PRESSURE: dict[tuple[str, str], tuple[str, str]] = {
    ("cpu", "some"): (schema.PRESSURE_CPU_WAITING,
                      "Total time in seconds that processes have waited for CPU time"),
    ("cpu", "full"): (schema.PRESSURE_CPU_STALLED,
                      "Total time in seconds no process could make progress due to CPU "
                      "congestion"),
    ("io", "some"): (schema.PRESSURE_IO_WAITING,
                     "Total time in seconds that processes have waited due to IO congestion"),
    ("io", "full"): (schema.PRESSURE_IO_STALLED,
                     "Total time in seconds no process could make progress due to IO congestion"),
    ("memory", "some"): (schema.PRESSURE_MEMORY_WAITING,
                         "Total time in seconds that processes have waited for memory"),
    ("memory", "full"): (schema.PRESSURE_MEMORY_STALLED,
                         "Total time in seconds no process could make progress due to memory "
                         "congestion"),
    ("irq", "full"): (schema.PRESSURE_IRQ_STALLED,
                      "Total time in seconds no process could make progress due to IRQ "
                      "congestion"),
}  # fmt: skip
_MEMINFO_NAMES: dict[str, tuple[str, str]] = {}


def _meminfo_name(key: str, unitless: bool) -> tuple[str, str]:
    cached = _MEMINFO_NAMES.get(key)
    if cached is None:
        clean = key.replace("(", "_").replace(")", "")
        name = f"{schema.MEMORY_PREFIX}{clean}" + ("" if unitless else "_bytes")
        cached = _MEMINFO_NAMES[key] = (name, f"Memory information field {name[12:]}.")
    return cached


def host_families(snap: Snapshot, host: str = "") -> list[Family]:
    """node_exporter-compatible families of one snapshot.

    `host` is the exporter's `hostname` setting: node_uname_info carries it as a `host` label
    beside the kernel's `nodename`, so Prometheus, the bot and dashboards can tell apart two
    hosts whose kernels share a name, under the name InfluxDB's `host` tag gives them.
    """
    fams: list[Family] = []
    add = fams.append
    if snap.cpus:
        cpu = Family(schema.CPU_SECONDS, "counter", _CPU_HELP)
        guest = Family(
            schema.CPU_GUEST_SECONDS,
            "counter",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
        )
        cs, gs = cpu.samples, guest.samples
        for t in snap.cpus:
            c = t.cpu
            cs.append(((("cpu", c), ("mode", "idle")), t.idle))
            cs.append(((("cpu", c), ("mode", "iowait")), t.iowait))
            cs.append(((("cpu", c), ("mode", "irq")), t.irq))
            cs.append(((("cpu", c), ("mode", "nice")), t.nice))
            cs.append(((("cpu", c), ("mode", "softirq")), t.softirq))
            cs.append(((("cpu", c), ("mode", "steal")), t.steal))
            cs.append(((("cpu", c), ("mode", "system")), t.system))
            cs.append(((("cpu", c), ("mode", "user")), t.user))
            gs.append(((("cpu", c), ("mode", "nice")), t.guest_nice))
            gs.append(((("cpu", c), ("mode", "user")), t.guest))
        add(cpu)
        add(guest)
    if snap.memory is not None:
        unitless = snap.memory.unitless
        for key, value in snap.memory.values.items():
            name, help_ = _meminfo_name(key, key in unitless)
            add(Family(name, "gauge", help_, [(NO_LABELS, value)]))
    if snap.kernel is not None:
        k = snap.kernel
        add(Family(schema.BOOT_TIME, "gauge", "Node boot time, in unixtime.",
                   [(NO_LABELS, k.boot_time)]))  # fmt: skip
        add(Family(schema.CONTEXT_SWITCHES, "counter", "Total number of context switches.",
                   [(NO_LABELS, k.context_switches)]))  # fmt: skip
        add(Family(schema.FORKS, "counter", "Total number of forks.", [(NO_LABELS, k.forks)]))
        add(Family(schema.INTR, "counter", "Total number of interrupts serviced.",
                   [(NO_LABELS, k.interrupts)]))  # fmt: skip
        add(Family(schema.PROCS_BLOCKED, "gauge",
                   "Number of processes blocked waiting for I/O to complete.",
                   [(NO_LABELS, k.procs_blocked)]))  # fmt: skip
        add(Family(schema.PROCS_RUNNING, "gauge", "Number of processes in runnable state.",
                   [(NO_LABELS, k.procs_running)]))  # fmt: skip
    if snap.load is not None:
        add(Family(schema.LOAD1, "gauge", "1m load average.", [(NO_LABELS, snap.load[0])]))
        add(Family(schema.LOAD5, "gauge", "5m load average.", [(NO_LABELS, snap.load[1])]))
        add(Family(schema.LOAD15, "gauge", "15m load average.", [(NO_LABELS, snap.load[2])]))
    add(Family(schema.TIME, "gauge", "System time in seconds since epoch (1970).",
               [(NO_LABELS, snap.time)]))  # fmt: skip
    if snap.filesystems:
        _filesystem_families(snap, add)
    if snap.disks:
        for name, attr, help_, scale in _DISK_FIELDS:
            fam = Family(name, "counter", help_)
            if scale == 1.0:
                fam.samples = [((("device", d.device),), getattr(d, attr)) for d in snap.disks]
            else:
                fam.samples = [
                    ((("device", d.device),), getattr(d, attr) * scale) for d in snap.disks
                ]
            add(fam)
    if snap.network:
        for name, help_, attr in _NET_FAMILIES:
            samples: list[Sample] = [((("device", n.device),), getattr(n, attr))
                                     for n in snap.network]  # fmt: skip
            add(Family(name, "counter", help_, samples))
    fams.extend(kernel_families(snap))  # node_network_up among them, from netclass
    for p in snap.pressure:
        for kind, psi in (("some", p.some), ("full", p.full)):
            spec = _PRESSURE.get((p.resource, kind))
            if spec is not None and psi is not None:
                add(Family(spec[0], "counter", spec[1], [(NO_LABELS, psi)]))
    if snap.temperatures:
        temps = Family(schema.HWMON_TEMP, "gauge", "Hardware monitor for temperature (input)")
        names = Family(schema.HWMON_CHIP_NAMES, "gauge", "Annotation metric for human-readable "
                       "chip names")  # fmt: skip
        labels = Family(schema.HWMON_SENSOR_LABEL, "gauge", "Label for given chip and sensor")
        seen: set[str] = set()
        for temp in snap.temperatures:
            chip, sensor = temp.chip, temp.sensor
            temps.samples.append(((("chip", chip), ("sensor", sensor)), temp.celsius))
            if temp.chip_name and chip not in seen:
                seen.add(chip)
                names.samples.append(((("chip", chip), ("chip_name", temp.chip_name)), 1))
            if temp.label:
                labels.samples.append(
                    ((("chip", chip), ("label", temp.label), ("sensor", sensor)), 1)
                )
        fams.extend((temps, names, labels))
    if snap.host is not None:
        u = snap.host.uname
        if host:
            u = {**u, schema.HOST_LABEL: host}
        add(Family(schema.UNAME_INFO, "gauge", "Labeled system information as provided by the "
                   "uname system call.", [(tuple(sorted(u.items())), 1)]))  # fmt: skip
        if snap.host.os_release:
            add(Family(schema.OS_INFO, "gauge", "A metric with a constant '1' value labeled by "
                       "build_id, id, id_like, image_id, image_version, name, pretty_name, "
                       "variant, variant_id, version, version_codename, version_id.",
                       [(tuple(sorted(snap.host.os_release.items())), 1)]))  # fmt: skip
    return fams


def _filesystem_families(snap: Snapshot, add: Callable[[Family], None]) -> None:
    size = Family(schema.FS_SIZE, "gauge", "Filesystem size in bytes.")
    free = Family(schema.FS_FREE, "gauge", "Filesystem free space in bytes.")
    avail = Family(schema.FS_AVAIL, "gauge",
                   "Filesystem space available to non-root users in bytes.")  # fmt: skip
    files = Family(schema.FS_FILES, "gauge", "Filesystem total file nodes.")
    files_free = Family(schema.FS_FILES_FREE, "gauge", "Filesystem total free file nodes.")
    ro = Family(schema.FS_READONLY, "gauge", "Filesystem read-only status.")
    err = Family(
        schema.FS_DEVICE_ERROR,
        "gauge",
        "Whether an error occurred while getting statistics for the given device.",
    )
    for fs in snap.filesystems:
        m = fs.mount
        labels = (("device", m.device), ("fstype", m.fstype), ("mountpoint", m.mountpoint))
        err.samples.append((labels, 1 if fs.device_error else 0))
        ro.samples.append((labels, 1 if m.readonly else 0))
        if fs.device_error:
            continue
        size.samples.append((labels, fs.size))
        free.samples.append((labels, fs.free))
        avail.samples.append((labels, fs.avail))
        files.samples.append((labels, fs.files))
        files_free.samples.append((labels, fs.files_free))
    for fam in (avail, err, files, files_free, free, ro, size):
        add(fam)


_PAGE = os.sysconf("SC_PAGE_SIZE")
# /proc/self/statm, kept open and re-read (exporter.openfiles): this process's own file
_STATM = OpenFiles(limit=1)
_TICKS = os.sysconf("SC_CLK_TCK")
_BUILD_LABELS: Labels = (
    ("python_version", platform.python_version()),
    ("version", __version__),
)


def _process_start() -> float:
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            for line in fh:
                if line.startswith(b"btime"):
                    return int(line.split()[1]) + int(fields[19]) / _TICKS
    except (OSError, IndexError, ValueError):
        pass
    return time.time()


_START = _process_start()


def open_fds() -> int:
    """This process's open descriptors: since Linux 6.2 the size of /proc/self/fd is the
    kernel's count of them (one stat, 3 us), before that a listing (35 us with 80 open)."""
    size = os.stat("/proc/self/fd").st_size
    return size if size > 0 else len(os.listdir("/proc/self/fd"))


def process_families() -> list[Family]:
    """The exporter process's own CPU, memory and file descriptors (process_* names)."""
    fams: list[Family] = []
    t = os.times()
    fams.append(Family("process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.",
                       [(NO_LABELS, t.user + t.system)]))  # fmt: skip
    try:
        vms, rss = _STATM.read("/proc/self/statm").split()[:2]
        fams.append(Family("process_resident_memory_bytes", "gauge",
                           "Resident memory size in bytes.",
                           [(NO_LABELS, int(rss) * _PAGE)]))  # fmt: skip
        fams.append(
            Family(
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                [(NO_LABELS, int(vms) * _PAGE)],
            )
        )
        fams.append(Family("process_open_fds", "gauge", "Number of open file descriptors.",
                           [(NO_LABELS, open_fds())]))  # fmt: skip
    except OSError:
        pass
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile != resource.RLIM_INFINITY:
        fams.append(Family("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                           [(NO_LABELS, nofile)]))  # fmt: skip
    vm_max = resource.getrlimit(resource.RLIMIT_AS)[0]
    fams.append(
        Family(
            "process_virtual_memory_max_bytes",
            "gauge",
            "Maximum amount of virtual memory available in bytes.",
            [(NO_LABELS, -1 if vm_max == resource.RLIM_INFINITY else vm_max)],
        )
    )
    fams.append(Family("process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.",
                       [(NO_LABELS, _START)]))  # fmt: skip
    return fams


def health_families(snap: Snapshot, influx: Mapping[str, float] | None = None) -> list[Family]:
    """The exporter's own health: build info, per-collector health, InfluxDB writer figures."""
    fams = [Family(schema.BUILD_INFO, "gauge", "Version of homelab-exporter and of its Python.",
                   [(_BUILD_LABELS, 1)])]  # fmt: skip
    dur = Family(schema.COLLECTOR_DURATION, "gauge", "Seconds each collector took.")
    ok = Family(schema.COLLECTOR_SUCCESS, "gauge", "1 if the collector's last read succeeded.")
    age = Family(schema.CACHE_AGE, "gauge",
                 "Seconds since a background collector's cached data was read.")  # fmt: skip
    for st in snap.statuses:
        if st.no_data:
            continue  # not a failure: node_scrape_collector_success says "no data" with 0
        labels = (("collector", st.name),)
        dur.samples.append((labels, st.duration))
        ok.samples.append((labels, 1 if st.success else 0))
        if st.age is not None:
            age.samples.append((labels, st.age))
    fams.extend((dur, ok, age))
    fams.extend(scrape_families(snap.statuses))
    if influx is not None:
        for name, kind, help_ in INFLUX_FAMILIES:
            if name in influx:
                fams.append(Family(name, kind, help_, [(NO_LABELS, influx[name])]))
    return fams


INFLUX_FAMILIES: tuple[tuple[str, str, str], ...] = (
    (schema.INFLUX_POINTS_WRITTEN, "counter", "Points InfluxDB accepted."),
    (schema.INFLUX_POINTS_SPOOLED, "gauge", "Points waiting in the on-disk spool."),
    (schema.INFLUX_POINTS_DROPPED, "counter",
     "Points dropped: spool full (oldest first), spool write failed, or rejected by InfluxDB."),
    (schema.INFLUX_WRITE_ERRORS, "counter", "Failed write requests to InfluxDB."),
    (schema.INFLUX_SPOOL_BYTES, "gauge", "Bytes of line protocol in the spool."),
    (schema.INFLUX_SPOOL_LIMIT_BYTES, "gauge", "Size limit of the spool in bytes."),
    (schema.INFLUX_LAST_SUCCESS, "gauge", "Unix time of the last successful write."),
)  # fmt: skip


class HostCollector:
    """The prometheus_client custom collector behind /metrics: host, own health, process.

    One collection serves every scrape that arrives while it runs (concurrent scrapes share
    it); counters pass through the CounterGuard first.

    Example::

        registry = CollectorRegistry()
        registry.register(HostCollector(collection, host="nas"))
        registry.get_sample_value("node_load1")
    """

    def __init__(
        self,
        collection: Collection,
        influx_stats: Callable[[], Mapping[str, float]] | None = None,
        host: str = "",
    ) -> None:
        self.collection = collection
        self.influx_stats = influx_stats
        self.host = host
        self.guard = CounterGuard()
        self._clashes: frozenset[str] = frozenset()
        self._shared: SingleFlight[list[Metric]] = SingleFlight(self._build)

    def _build(self) -> list[Metric]:
        snap = self.collection.snapshot()
        fams = host_families(snap, self.host)
        fams.extend(health_families(snap, self.influx_stats() if self.influx_stats else None))
        fams.extend(process_families())
        read = snap.textfile
        if read is not None:
            fams.extend(textfile_families(read))
        self.guard.apply(fams)
        if read is None or not read.metrics:
            return [FamilyMetric(fam) for fam in fams if fam.samples]
        clashes: list[str] = []
        files = without_clashes(read.metrics, {fam.name: fam for fam in fams}, clashes)
        self._report_clashes(clashes)
        metrics: list[Metric] = [FamilyMetric(fam) for fam in fams if fam.samples]
        metrics.extend(files)
        return metrics

    def _report_clashes(self, clashes: list[str]) -> None:
        # as node_exporter's gathering errors: logged, the scrape goes on (each clash once)
        now = frozenset(clashes)
        for clash in sorted(now - self._clashes):
            log.error("textfile collector: left out %s", clash)
        self._clashes = now

    def collect(self) -> Iterator[Metric]:
        """The metric families of one collection."""
        return iter(self._shared())

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not trigger a collection."""
        return []


class Exposition:
    """What /metrics serves: a registry holding the HostCollector, rendered in the format the
    scraper asked for."""

    def __init__(
        self,
        collection: Collection,
        influx_stats: Callable[[], Mapping[str, float]] | None = None,
        host: str = "",
    ) -> None:
        self.collection = collection
        self.collector = HostCollector(collection, influx_stats, host)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    @property
    def guard(self) -> CounterGuard:
        """The collector's counter guard."""
        return self.collector.guard

    def render(self, openmetrics: bool = False) -> bytes:
        """/metrics body in the text format, or OpenMetrics, of every registered collector."""
        return render(self.registry.collect(), openmetrics)
