"""Sampler: psutil namedtuples and /proc, /sys files become frozen dataclasses."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from exporter.sampling import (
    DEFAULT_DISK_EXCLUDE,
    CpuTimes,
    Sampler,
    hwmon_chip_name,
    parse_mounts,
    parse_os_release,
    parse_pressure,
)
from tests.exporter.conftest import fake_psutil

CLK_TCK = os.sysconf("SC_CLK_TCK")


def test_cpu_times_come_from_proc_stat_in_seconds(procfs: Path) -> None:
    """Each `cpuN` line of /proc/stat becomes one CpuTimes: USER_HZ ticks as seconds."""
    cpus = Sampler(procfs=procfs, ps=fake_psutil()).cpu()
    assert [c.cpu for c in cpus] == ["0", "1"]
    t = CLK_TCK
    assert cpus[1] == CpuTimes("1", 9307 / t, 0.0, 2444 / t, 73531 / t, 286 / t, 0.0, 50 / t,
                               5 / t, 0.0, 0.0)  # fmt: skip


def test_cpu_labels_are_the_kernels_numbers_not_positions(procfs: Path) -> None:
    """With cpu1 offline /proc/stat lists cpu0 and cpu2: the labels are 0 and 2 (as
    node_exporter's), not 0 and 1 (psutil's list positions); short lines are zero-padded."""
    rest = [ln for ln in (procfs / "stat").read_text().splitlines() if not ln.startswith("cpu")]
    (procfs / "stat").write_text(
        "\n".join(["cpu  300 0 30 3000 3 0 0 0 0 0", "cpu0 100 0 10 1000 1 0 0 0 0 0",
                   "cpu2 200 0 20 2000 2 0 0", *rest]) + "\n"
    )  # fmt: skip
    cpus = Sampler(procfs=procfs, ps=fake_psutil()).cpu()
    assert [c.cpu for c in cpus] == ["0", "2"]
    assert cpus[1].user == 200 / CLK_TCK and cpus[1].steal == cpus[1].guest_nice == 0.0


def test_samples_are_frozen(procfs: Path) -> None:
    """Samples cannot be mutated after the fact."""
    cpu = Sampler(procfs=procfs, ps=fake_psutil()).cpu()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu.user = 1.0  # type: ignore[misc]


def test_meminfo_keeps_every_key_in_bytes(procfs: Path) -> None:
    """kB lines are scaled to bytes; unit-less HugePages counts are kept as counts."""
    mem = Sampler(procfs=procfs, ps=fake_psutil()).memory()
    assert mem.get("MemTotal") == 24684092 * 1024
    assert mem.get("Active(anon)") == 1536 * 1024
    assert mem.get("HugePages_Total") == 0 and "HugePages_Total" in mem.unitless
    assert len(mem.values) == 54


def test_kernel_counters_from_proc_stat(procfs: Path) -> None:
    """/proc/stat gives boot time, context switches, interrupts, forks and process states."""
    k = Sampler(procfs=procfs, ps=fake_psutil()).kernel()
    assert (k.boot_time, k.context_switches, k.interrupts, k.forks) == (
        1795630812.0, 517610, 304967, 9998,
    )  # fmt: skip
    assert (k.procs_running, k.procs_blocked) == (1, 0)


def test_cpu_and_kernel_of_one_collection_share_one_read_of_proc_stat(procfs: Path) -> None:
    """kernel() right after cpu() uses the text cpu() read; a second kernel() reads again."""
    sampler = Sampler(procfs=procfs, ps=fake_psutil())
    stat = procfs / "stat"
    sampler.cpu()
    stat.write_text(stat.read_text().replace("ctxt 517610", "ctxt 600000"))
    assert sampler.kernel().context_switches == 517610  # the text cpu() read
    assert sampler.kernel().context_switches == 600000  # nothing left to share: read again


def test_meminfo_read_through_its_layout_follows_new_values_and_new_keys(procfs: Path) -> None:
    """The second read converts values in place (its keys are the first's); a kernel line
    added later makes a new layout rather than misreading the old positions."""
    sampler = Sampler(procfs=procfs, ps=fake_psutil())
    meminfo = procfs / "meminfo"
    first = sampler.memory()
    assert sampler._meminfo_layout is not None
    text = meminfo.read_text()
    total = f"MemTotal: {first.values['MemTotal'] // 1024} kB"
    meminfo.write_text(text.replace(total.split()[1], "1234", 1))
    assert sampler.memory().values["MemTotal"] == 1234 * 1024
    meminfo.write_text("Extra:           7\n" + text)
    again = sampler.memory()
    assert again.values["Extra"] == 7 and "Extra" in again.unitless
    assert again.values["MemTotal"] == first.values["MemTotal"]


def test_load_average(procfs: Path) -> None:
    """/proc/loadavg's three averages."""
    assert Sampler(procfs=procfs, ps=fake_psutil()).load() == (0.44, 0.26, 0.12)


def test_pressure_reads_each_resource_present(procfs: Path) -> None:
    """PSI totals are microseconds in /proc and seconds in the sample; absent files are skipped."""
    psi = {p.resource: p for p in Sampler(procfs=procfs, ps=fake_psutil()).pressure()}
    assert set(psi) == {"cpu", "io", "memory"}
    assert psi["io"].some == pytest.approx(2.828030)
    assert psi["io"].full == pytest.approx(2.647529)


def test_pressure_without_full_line() -> None:
    """Older kernels have no `full` line for cpu: full is None, not 0."""
    p = parse_pressure("cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n")
    assert (p.some, p.full) == (1.5, None)


def test_mounts_come_from_pid_1_and_unescape_octal(procfs: Path) -> None:
    """The mount table is /proc/1/mounts, and "\\040" in a path is a space."""
    mounts = Sampler(procfs=procfs, ps=fake_psutil()).mounts()
    root = next(m for m in mounts if m.mountpoint == "/")
    assert (root.device, root.fstype, root.readonly) == ("/dev/vda", "ext4", False)
    odd = parse_mounts("//nas/share /mnt/my\\040share cifs ro,relatime 0 0\n")[0]
    assert (odd.mountpoint, odd.readonly) == ("/mnt/my share", True)


def test_an_unchanged_mount_table_is_not_parsed_again_and_a_changed_one_is(
    procfs: Path,
) -> None:
    """The same text gives the same tuple (Collection keeps its selection); a mount added
    between two scrapes is seen at the next one."""
    sampler = Sampler(procfs=procfs, ps=fake_psutil())
    first = sampler.mounts()
    assert sampler.mounts() is first
    table = procfs / "1" / "mounts"
    table.write_text(table.read_text() + "/dev/sdz1 /srv/new ext4 rw 0 0\n")
    again = sampler.mounts()
    assert again is not first and again[-1].mountpoint == "/srv/new"


def test_fs_usage_uses_statvfs_under_rootfs(tmp_path: Path, procfs: Path) -> None:
    """Sizes are blocks * fragment size; with rootfs=/host the path stat'ed is /host/<mount>."""
    seen: list[str] = []

    def statvfs(path: str) -> os.statvfs_result:
        seen.append(path)
        return os.statvfs_result((4096, 4096, 1000, 400, 300, 50, 20, 20, 0, 255))

    sampler = Sampler(procfs=procfs, rootfs=tmp_path, ps=fake_psutil(), statvfs=statvfs)
    mount = parse_mounts("/dev/sda1 /data ext4 rw 0 0")[0]
    usage = sampler.fs_usage(mount)
    assert seen == [f"{tmp_path}/data"]
    assert (usage.size, usage.free, usage.avail) == (4096000, 1638400, 1228800)
    assert (usage.files, usage.files_free) == (50, 20)


def test_hwmon_temperatures_named_like_node_exporter(tmp_path: Path) -> None:
    """chip = <bus>_<device> of the device link, sensor = tempN, value in celsius."""
    sysfs = tmp_path / "sys"
    dev = sysfs / "devices" / "platform" / "coretemp.0"
    hw = sysfs / "class" / "hwmon" / "hwmon3"
    dev.mkdir(parents=True)
    hw.mkdir(parents=True)
    (hw / "device").symlink_to(dev)
    (hw / "name").write_text("coretemp\n")
    (hw / "temp1_input").write_text("45000\n")
    (hw / "temp1_label").write_text("Package id 0\n")
    (hw / "temp2_input").write_text("41500\n")
    temps = Sampler(sysfs=sysfs, ps=fake_psutil()).temperatures()
    assert [(t.chip, t.sensor, t.celsius) for t in temps] == [
        ("platform_coretemp_0", "temp1", 45.0),
        ("platform_coretemp_0", "temp2", 41.5),
    ]
    assert (temps[0].chip_name, temps[0].label) == ("coretemp", "Package id 0")


def test_hwmon_chip_without_device_link_uses_name(tmp_path: Path) -> None:
    """Without a device link the chip label falls back to the cleaned name file."""
    hw = tmp_path / "hwmon0"
    hw.mkdir()
    (hw / "name").write_text("ACPI Thermal\n")
    assert hwmon_chip_name(hw) == "acpi_thermal"


def test_no_hwmon_means_no_temperatures(tmp_path: Path) -> None:
    """A host without /sys/class/hwmon has no temperatures, and that is not an error."""
    assert Sampler(sysfs=tmp_path, ps=fake_psutil()).temperatures() == ()


def test_host_info_reads_uname_and_os_release(tmp_path: Path, procfs: Path) -> None:
    """uname fields plus the NIS domain name, and os-release under the root path."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    )
    info = Sampler(procfs=procfs, rootfs=tmp_path, ps=fake_psutil()).host_info()
    assert info.uname["nodename"] == os.uname().nodename
    assert info.uname["domainname"] == "(none)"
    assert info.os_release["pretty_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert info.os_release["id"] == "debian" and info.os_release["version_id"] == "12"
    assert info.os_release["variant"] == ""


def test_os_release_ignores_junk() -> None:
    """Comments and unknown keys do not end up as labels."""
    assert parse_os_release("# c\nFOO=bar\nNAME='Arch'\n")["name"] == "Arch"
    assert "foo" not in parse_os_release("FOO=bar\n")


def test_logins_count_sessions_and_distinct_users(tmp_path: Path, procfs: Path) -> None:
    """psutil.users() gives three sessions of two users; no utmp file means no figure at all."""
    utmp = tmp_path / "utmp"
    utmp.write_bytes(b"")
    logins = Sampler(procfs=procfs, ps=fake_psutil(), utmp=utmp).logins()
    assert logins is not None and (logins.sessions, logins.users) == (3, 2)
    assert Sampler(procfs=procfs, ps=fake_psutil(), utmp=tmp_path / "none").logins() is None


@pytest.mark.parametrize(
    ("device", "excluded"),
    [("zram0", True), ("ram0", True), ("loop3", True), ("fd0", True), ("sda1", True),
     ("xvda1", True), ("nvme0n1p2", True), ("sda", False), ("nvme0n1", False),
     ("dm-0", False), ("md127", False), ("mmcblk0", False)],
)  # fmt: skip
def test_default_disk_exclusion_is_node_exporters_current_one(device: str, excluded: bool) -> None:
    """`^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$`: zram swap devices are left out."""
    assert DEFAULT_DISK_EXCLUDE is not None
    assert bool(DEFAULT_DISK_EXCLUDE.match(device)) is excluded
