"""Exposition: node_exporter's names, labels, units; the renderer agrees with prometheus_client."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families

from exporter import schema
from exporter.collection import Collection, Snapshot
from exporter.families import NAMES_MAX, FamilyNames
from exporter.prometheus import (
    _LABEL_TEXT,
    LABEL_CACHE_MAX,
    CounterGuard,
    Exposition,
    Family,
    FamilyMetric,
    HostCollector,
    format_value,
    host_families,
    label_text,
    open_fds,
    render,
    to_metric,
)
from exporter.sampling import FsUsage, Sampler, Temperature, parse_mounts
from tests.exporter.conftest import fake_psutil

CLK_TCK = os.sysconf("SC_CLK_TCK")


class FixedSampler(Sampler):
    """Fixture /proc and /sys, one fixed filesystem and one hwmon sensor."""

    def fs_usage(self, mount):  # type: ignore[no-untyped-def]
        """A fixed statvfs."""
        return FsUsage(mount, size=1000, free=600, avail=500, files=100, files_free=90)

    def temperatures(self) -> tuple[Temperature, ...]:
        """One sensor."""
        return (Temperature("platform_coretemp_0", "temp1", 45.0, "coretemp", "Package id 0"),)


@pytest.fixture
def exposition(procfs: Path, sysfs: Path) -> Exposition:
    """An Exposition over fixture data, InfluxDB figures included."""
    collection = Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil()))
    collection.refresh_temperatures()
    stats = {schema.INFLUX_POINTS_WRITTEN: 7, schema.INFLUX_POINTS_DROPPED: 1}
    return Exposition(collection, lambda: stats, host="nas")


def _parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_names_labels_and_units_are_node_exporters(exposition: Exposition) -> None:
    """The series dashboards query exist with node_exporter's label names and base units."""
    m = _parse(exposition.render().decode())
    # fixtures/proc/stat: "cpu1 9307 ..." in USER_HZ
    assert m[schema.CPU_SECONDS][(("cpu", "1"), ("mode", "user"))] == 9307 / CLK_TCK
    assert len(m[schema.CPU_SECONDS]) == 16
    assert m[schema.MEM_TOTAL][()] == 24684092 * 1024
    assert m["node_memory_Active_anon_bytes"][()] == 1536 * 1024
    assert m["node_memory_HugePages_Total"][()] == 0
    root = (("device", "/dev/vda"), ("fstype", "ext4"), ("mountpoint", "/"))
    assert m[schema.FS_SIZE][root] == 1000 and m[schema.FS_AVAIL][root] == 500
    assert m[schema.FS_DEVICE_ERROR][root] == 0 and m[schema.FS_READONLY][root] == 0
    # fixtures/proc/diskstats: vda read 21375 ms, 7560 ms doing I/O; /proc/net/dev eth0
    assert m[schema.DISK_READ_TIME][(("device", "vda"),)] == pytest.approx(21.375)
    assert m[schema.DISK_IO_TIME][(("device", "vda"),)] == pytest.approx(7.56)
    assert (("device", "vda1"),) not in m[schema.DISK_READ_BYTES]
    assert m[schema.NETWORK_RECEIVE_BYTES][(("device", "eth0"),)] == 310043896
    assert m[schema.NETWORK_UP][(("device", "eth0"),)] == 1
    assert m[schema.LOAD15][()] == 0.12 and m[schema.BOOT_TIME][()] == 1795630812
    assert m[schema.PRESSURE_IO_STALLED][()] == pytest.approx(2.647529)
    assert m[schema.HWMON_TEMP][(("chip", "platform_coretemp_0"), ("sensor", "temp1"))] == 45.0
    (uname,) = m[schema.UNAME_INFO]
    assert {k for k, _ in uname} == {
        "sysname", "release", "version", "machine", "nodename", "domainname", "host",
    }  # fmt: skip
    for name in (schema.CONTEXT_SWITCHES, schema.FORKS, schema.INTR, schema.PROCS_RUNNING,
                 schema.PROCS_BLOCKED, schema.TIME):  # fmt: skip
        assert name in m


def test_node_uname_info_carries_the_configured_host_name(procfs: Path, sysfs: Path) -> None:
    """The `hostname` setting is node_uname_info's `host` label; nodename stays the kernel's."""
    collection = Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil()))
    named = _parse(Exposition(collection, host="nas").render().decode())[schema.UNAME_INFO]
    (labels,) = named
    assert dict(labels)["host"] == "nas"
    assert dict(labels)["nodename"] == os.uname().nodename
    plain = _parse(Exposition(collection).render().decode())[schema.UNAME_INFO]
    assert "host" not in dict(next(iter(plain)))


def test_own_health_is_exported(exposition: Exposition) -> None:
    """Per-collector success and duration, cache age, build info and writer figures."""
    m = _parse(exposition.render().decode())
    assert m[schema.COLLECTOR_SUCCESS][(("collector", "cpu"),)] == 1
    assert (("collector", "hwmon"),) in m[schema.CACHE_AGE]
    assert m[schema.COLLECTOR_DURATION][(("collector", "filesystem"),)] >= 0
    (build,) = m[schema.BUILD_INFO]
    assert dict(build)["version"]
    assert m[schema.INFLUX_POINTS_WRITTEN][()] == 7
    assert m["process_resident_memory_bytes"][()] > 0


def test_fast_renderer_agrees_with_prometheus_client(exposition: Exposition) -> None:
    """prometheus_client's generate_latest of the served registry parses to the same samples."""
    theirs = _parse(generate_latest(exposition.registry).decode())
    ours = _parse(exposition.render().decode())
    volatile = {schema.COLLECTOR_DURATION, schema.CACHE_AGE, schema.TIME,
                "node_scrape_collector_duration_seconds"}  # fmt: skip
    volatile |= {n for n in ours if n.startswith(("process_", "node_timex_"))}
    assert set(theirs) == set(ours)
    for name in set(ours) - volatile:
        assert ours[name] == theirs[name], name


def _headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def test_fast_renderer_writes_help_and_type_as_prometheus_client(exposition: Exposition) -> None:
    """HELP and TYPE lines, in both formats, are exactly generate_latest's, in its order."""
    ours = _headers(exposition.render().decode())
    assert ours == _headers(generate_latest(exposition.registry).decode())
    assert "# TYPE node_cpu_seconds_total counter" in ours
    om = _headers(exposition.render(openmetrics=True).decode())
    assert om == _headers(om_generate_latest(exposition.registry).decode())
    assert "# TYPE node_cpu_seconds counter" in om


def test_metrics_is_served_from_the_registrys_collectors(exposition: Exposition) -> None:
    """/metrics is what the CollectorRegistry's collectors yield: the HostCollector, and any
    other custom collector registered beside it."""

    class Extra:
        def collect(self) -> Iterator[Metric]:
            """One gauge."""
            yield GaugeMetricFamily("extra_answer", "A registered extra.", value=42)

    assert isinstance(exposition.collector, HostCollector)
    assert exposition.registry.get_sample_value(schema.LOAD1) == 0.44
    exposition.registry.register(Extra())  # type: ignore[arg-type]
    m = _parse(exposition.render().decode())
    assert m["extra_answer"][()] == 42 and m[schema.LOAD1][()] == 0.44
    exposition.registry.unregister(exposition.collector)
    assert _parse(exposition.render().decode()) == {"extra_answer": {(): 42.0}}


def test_host_collector_works_in_any_registry(procfs: Path, sysfs: Path) -> None:
    """HostCollector is a plain custom collector: registering it does not collect, and a
    registry of one's own serves its families."""
    collection = Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil()))
    registry = CollectorRegistry()
    registry.register(HostCollector(collection))
    assert collection.collections == 0
    assert registry.get_sample_value(schema.MEM_TOTAL) == 24684092 * 1024
    assert collection.collections == 1


def test_openmetrics_output_parses_and_ends_with_eof(exposition: Exposition) -> None:
    """The OpenMetrics rendering is valid for prometheus_client's strict OpenMetrics parser."""
    text = exposition.render(openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    fams = {f.name: f for f in om_parse(text)}
    assert fams["node_cpu_seconds"].type == "counter"
    assert fams["node_cpu_seconds"].samples[0].name == "node_cpu_seconds_total"
    theirs = {f.name for f in om_parse(om_generate_latest(exposition.registry).decode())}
    assert theirs == set(fams)


def test_counters_never_go_down() -> None:
    """iowait can step back in /proc/stat; the exported counter holds its previous value."""
    guard = CounterGuard()
    first = [Family("c_total", "counter", "h", [((("cpu", "0"),), 10.0)])]
    guard.apply(first)
    second = [Family("c_total", "counter", "h", [((("cpu", "0"),), 9.5)])]
    guard.apply(second)
    assert second[0].samples[0][1] == 10.0
    third = [Family("c_total", "counter", "h", [((("cpu", "0"),), 11.0)])]
    guard.apply(third)
    assert third[0].samples[0][1] == 11.0
    gauge = [Family("g", "gauge", "h", [((), 1.0)]), Family("g", "gauge", "h", [((), 0.5)])]
    guard.apply(gauge)
    assert gauge[1].samples[0][1] == 0.5


def test_exposition_counters_are_monotonic_across_scrapes(procfs: Path, sysfs: Path) -> None:
    """A CPU counter that the kernel reports lower on the next read is exported unchanged."""
    stat = procfs / "stat"
    rest = [ln for ln in stat.read_text().splitlines() if not ln.startswith("cpu")]
    exp = Exposition(Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())))
    key = (("cpu", "0"), ("mode", "iowait"))
    stat.write_text("\n".join(["cpu0 10000 0 1000 50000 500 0 0 0 0 0", *rest]) + "\n")
    assert _parse(exp.render().decode())[schema.CPU_SECONDS][key] == 500 / CLK_TCK
    stat.write_text("\n".join(["cpu0 10100 0 1000 50100 490 0 0 0 0 0", *rest]) + "\n")
    assert _parse(exp.render().decode())[schema.CPU_SECONDS][key] == 500 / CLK_TCK


def test_pressure_cpu_full_is_the_cpu_stalled_counter(procfs: Path, sysfs: Path) -> None:
    """The `full` line of /proc/pressure/cpu becomes node_pressure_cpu_stalled_seconds_total;
    without one (kernels before 5.13) the series is absent, not 0."""
    (procfs / "pressure" / "cpu").write_text(
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=1250000\n"
    )
    exp = Exposition(Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())))
    m = _parse(exp.render().decode())
    assert m[schema.PRESSURE_CPU_STALLED][()] == 1.25
    assert m[schema.PRESSURE_CPU_WAITING][()] == 3.0
    (procfs / "pressure" / "cpu").write_text(
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\n"
    )
    assert schema.PRESSURE_CPU_STALLED not in _parse(exp.render().decode())


def _write_netdev(procfs: Path, received: dict[str, int]) -> None:
    """A /proc/net/dev whose interfaces received the given bytes (other counters 0)."""
    head = (
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed\n"
    )
    rows = "".join(f"{name:>6}: {rx} " + "0 " * 15 + "\n" for name, rx in received.items())
    (procfs / "net" / "dev").write_text(head + rows)


def test_a_recreated_device_starts_from_its_new_counters(procfs: Path, sysfs: Path) -> None:
    """A veth that vanished for a scrape and came back with lower counters is exported with
    them (Prometheus sees a counter reset), not frozen at the old device's values."""
    exp = Exposition(Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())))
    veth, eth = (("device", "veth1"),), (("device", "eth0"),)
    _write_netdev(procfs, {"eth0": 2000, "veth1": 5000})
    first = _parse(exp.render().decode())[schema.NETWORK_RECEIVE_BYTES]
    assert first[veth] == 5000
    _write_netdev(procfs, {"eth0": 2000})
    second = _parse(exp.render().decode())[schema.NETWORK_RECEIVE_BYTES]
    assert veth not in second and second[eth] == 2000
    _write_netdev(procfs, {"eth0": 2000, "veth1": 10})
    third = _parse(exp.render().decode())[schema.NETWORK_RECEIVE_BYTES]
    assert third[veth] == 10 and third[eth] == 2000


def test_the_guard_remembers_only_the_latest_scrape(procfs: Path, sysfs: Path) -> None:
    """Fifty scrapes, each with a different transient veth: the guard keeps the series of the
    last scrape only, instead of every label set ever seen."""
    exp = Exposition(Collection(FixedSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())))
    for i in range(50):
        _write_netdev(procfs, {"eth0": 2000, "lo": 50, f"veth{i}": 2})
        last = _parse(exp.render().decode())
    assert (("device", "veth49"),) in last[schema.NETWORK_RECEIVE_BYTES]
    exported = sum(len(v) for k, v in last.items() if k.endswith("_total"))
    assert len(exp.guard) == exported
    assert len(exp.guard.remembered(schema.NETWORK_RECEIVE_BYTES)) == len(
        last[schema.NETWORK_RECEIVE_BYTES]
    )


def test_a_persisting_series_still_never_goes_down_after_others_vanish() -> None:
    """Forgetting absent series does not weaken the guarantee for series that stay."""
    guard = CounterGuard()
    keep, gone = (("device", "eth0"),), (("device", "veth9"),)
    guard.apply([Family("n_total", "counter", "h", [(keep, 100.0), (gone, 7.0)])])
    later = [Family("n_total", "counter", "h", [(keep, 99.0)])]
    guard.apply(later)
    assert later[0].samples == [(keep, 100.0)] and len(guard) == 1


def test_the_label_text_cache_stays_bounded() -> None:
    """Ten thousand distinct label sets (devices coming and going) do not pile up."""
    for i in range(10_000):
        assert label_text((("device", f"veth{i}"),)) == f'{{device="veth{i}"}}'
    assert len(_LABEL_TEXT) <= LABEL_CACHE_MAX


def test_label_values_are_escaped() -> None:
    """Quotes, backslashes and newlines in a mount point survive the round trip."""
    snap = Snapshot(
        time=1.0,
        filesystems=(
            FsUsage(parse_mounts('/dev/x /mnt/a"b\\134c ext4 rw 0 0')[0], 1, 1, 1, 1, 1),
        ),
    )
    text = render(map(to_metric, host_families(snap))).decode()
    m = _parse(text)
    ((labels, _),) = m[schema.FS_SIZE].items()
    assert dict(labels)["mountpoint"] == '/mnt/a"b\\c'


def test_value_formatting() -> None:
    """Integers stay integers; NaN and infinities use the exposition spellings."""
    assert format_value(12) == "12"
    assert format_value(0.5) == "0.5"
    assert (format_value(math.nan), format_value(math.inf), format_value(-math.inf)) == (
        "NaN", "+Inf", "-Inf",
    )  # fmt: skip


def test_failed_filesystem_reports_only_error_and_readonly() -> None:
    """A mount with device_error has no size series (as node_exporter), only the error flag."""
    mount = parse_mounts("nas:/x /mnt/nas nfs4 ro 0 0")[0]
    snap = Snapshot(time=1.0, filesystems=(FsUsage(mount, device_error=True),))
    m = _parse(render(map(to_metric, host_families(snap))).decode())
    assert schema.FS_SIZE not in m
    ((_, err),) = m[schema.FS_DEVICE_ERROR].items()
    ((_, ro),) = m[schema.FS_READONLY].items()
    assert (err, ro) == (1, 1)


def test_family_metrics_are_written_without_building_samples() -> None:
    """render writes a FamilyMetric's lines directly; its Samples exist only when read."""
    fam = Family("node_test_bytes_total", "counter", "A test.", [((("device", "eth0"),), 7)])
    metric = FamilyMetric(fam)
    assert (metric.name, metric.type) == ("node_test_bytes", "counter")
    text = render([metric]).decode()
    assert 'node_test_bytes_total{device="eth0"} 7\n' in text
    assert metric._samples is None
    (sample,) = metric.samples
    assert (sample.name, sample.labels, sample.value) == ("node_test_bytes_total",
                                                          {"device": "eth0"}, 7)  # fmt: skip
    with pytest.raises(ValueError, match="Invalid metric type"):
        FamilyMetric(Family("node_test", "bogus", "prometheus_client checks the type"))


def test_family_names_are_made_once_per_key_and_bounded() -> None:
    """A source key's (name, help) is formatted once; past NAMES_MAX keys the cache restarts."""
    made: list[str] = []

    def make(key: str) -> tuple[str, str]:
        made.append(key)
        return f"node_vmstat_{key}", f"/proc/vmstat information field {key}."

    names = FamilyNames(make)
    assert names("pgfault") == ("node_vmstat_pgfault", "/proc/vmstat information field pgfault.")
    assert names("pgfault") is names("pgfault")
    assert made == ["pgfault"]
    for i in range(NAMES_MAX + 1):
        names(f"k{i}")
    assert len(names._cache) <= NAMES_MAX


def test_open_fds_counts_this_processs_descriptors() -> None:
    """process_open_fds follows descriptors opened and closed (the /proc/self/fd count)."""
    before = open_fds()
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
    try:
        assert open_fds() == before + 5
    finally:
        for fd in fds:
            os.close(fd)
    assert open_fds() == before
