"""OpenFiles: kernel files kept open and re-read at offset 0, fresh every time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.kernelstats import KernelReader
from exporter.openfiles import CHUNK, OpenFiles, kernel_fs, mount_type
from exporter.sampling import Sampler


def _ctxt(raw: bytes) -> int:
    line = next(ln for ln in raw.split(b"\n") if ln.startswith(b"ctxt "))
    return int(line.split()[1])


def test_kernel_file_systems_are_told_from_mountinfo(tmp_path: Path) -> None:
    """/proc and /sys are kernel file systems; a fixture directory is not."""
    assert kernel_fs("/proc") and kernel_fs("/sys")
    assert kernel_fs("/sys/class/net")
    assert not kernel_fs(str(tmp_path))


def test_mount_type_takes_the_longest_mount_point(tmp_path: Path) -> None:
    """The deepest mount holding the path wins; escaped spaces are understood."""
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 27 0:21 / / rw - ext4 /dev/sda1 rw\n"
        "23 27 0:22 / /host/proc rw,relatime - proc proc rw\n"
        "24 27 0:23 / /my\\040dir rw - tmpfs tmpfs rw\n"
        "garbage line\n"
    )
    assert mount_type("/host/proc/stat", str(info)) == "proc"
    assert mount_type("/host/procs", str(info)) == "ext4"
    assert mount_type("/my dir/x", str(info)) == "tmpfs"
    assert mount_type("/x", str(tmp_path / "missing")) == ""


def test_a_kept_descriptor_reads_fresh_content() -> None:
    """/proc/stat read twice through one descriptor: the second read is the kernel's new state."""
    files = OpenFiles()
    first = files.read("/proc/stat")
    assert len(files) == 1
    time.sleep(0.05)  # sleeping switches context: ctxt must have moved
    second = files.read("/proc/stat")
    assert len(files) == 1  # the same descriptor, not a new one
    assert _ctxt(second) > _ctxt(first)


def test_a_file_that_went_away_is_reopened_and_then_missing() -> None:
    """A process's stat after it exited: the kept descriptor is dropped, FileNotFoundError."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    path = f"/proc/{child.pid}/stat"
    files = OpenFiles()
    try:
        assert files.read(path).startswith(str(child.pid).encode())
        assert len(files) == 1
    finally:
        child.kill()
        child.wait()
    with pytest.raises(FileNotFoundError):
        files.read(path)
    assert len(files) == 0
    assert files.attr(path) is None


def test_an_attribute_the_kernel_refuses_keeps_its_descriptor() -> None:
    """lo's speed fails with EINVAL at every read: None, and kept (no open per scrape)."""
    path = "/sys/class/net/lo/speed"
    files = OpenFiles()
    assert files.attr(path) is None
    assert len(files) == 1
    fd = files._fds[path]
    assert files.attr(path) is None
    assert files._fds[path] == fd  # asked again through the same descriptor
    files.close()


def test_ordinary_files_are_read_afresh_each_time(tmp_path: Path) -> None:
    """Disabled (a fixture tree): a file replaced by rename is read in its new version."""
    target = tmp_path / "value"
    target.write_text("1\n")
    files = OpenFiles(enabled=kernel_fs(str(tmp_path)))
    assert files.attr(str(target)) == b"1"
    new = tmp_path / "new"
    new.write_text("2\n")
    os.replace(new, target)
    assert files.attr(str(target)) == b"2"
    assert len(files) == 0


def test_large_files_are_read_whole(tmp_path: Path) -> None:
    """Content beyond one pread chunk is read to its end, through a kept descriptor too."""
    big = tmp_path / "big"
    data = bytes(range(256)) * (3 * CHUNK // 256 + 7)
    big.write_bytes(data)
    files = OpenFiles(enabled=True)
    assert files.read(str(big)) == data
    assert files.read(str(big)) == data
    assert OpenFiles(enabled=False).read(str(big)) == data


def test_forget_limit_and_close(tmp_path: Path) -> None:
    """forget() closes a device's descriptors; past the limit paths are not held; close()."""
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(name)
    files = OpenFiles(enabled=True, limit=2)
    for name in ("a", "b", "c"):
        assert files.read(str(tmp_path / name)) == name.encode()
    assert len(files) == 2  # "c" was read, not kept
    files.forget(str(tmp_path / "a"))
    assert len(files) == 1
    files.close()
    assert len(files) == 0
    assert files.attr(str(tmp_path / "missing")) is None


def test_the_readers_keep_descriptors_on_the_real_kernel_only(procfs: Path, sysfs: Path) -> None:
    """On /proc and /sys the readers hold descriptors; on fixture trees they hold none."""
    real = KernelReader()
    real.vmstat()
    real.netclass()
    assert len(real.proc_files) == 1 and len(real.sys_files) > 0
    sampler = Sampler()
    sampler.memory()
    sampler.load()
    assert len(sampler.files) == 2
    fixture = KernelReader(procfs, sysfs)
    fixture.vmstat()
    fixture.netclass()
    assert len(fixture.proc_files) == 0 and len(fixture.sys_files) == 0


def test_a_removed_interface_gives_its_descriptors_back(sysfs: Path) -> None:
    """netclass closes the descriptors of an interface that left /sys/class/net."""
    reader = KernelReader(sysfs=sysfs)
    reader.sys_files = OpenFiles(enabled=True)
    names = [c.device for c in reader.netclass()]
    held = len(reader.sys_files)
    assert len(names) >= 2 and held > 0
    shutil.rmtree(sysfs / "class" / "net" / names[0])
    assert [c.device for c in reader.netclass()] == names[1:]
    assert 0 < len(reader.sys_files) < held
    assert not any(f"/{names[0]}/" in p for p in reader.sys_files._fds)
