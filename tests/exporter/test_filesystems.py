"""Filesystems: node_exporter's exclusions, and a stat that hangs never hangs the scrape."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from exporter.filesystems import BoundedStat, MountFilter, direct_mounts
from exporter.sampling import FsUsage, Mount, parse_mounts

TABLE = """\
proc /proc proc rw 0 0
sysfs /sys sysfs rw 0 0
tmpfs /run tmpfs rw 0 0
tmpfs /run/credentials/systemd-sysusers.service tmpfs ro 0 0
/dev/sda1 / ext4 rw 0 0
/dev/sda2 /home ext4 rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
/dev/sdb1 /var/lib/docker/volumes/x xfs rw 0 0
nas:/export /mnt/nas nfs4 rw 0 0
tmpfs /dev/shm tmpfs rw 0 0
devpts /dev/pts devpts rw 0 0
squash /snap/core/1 squashfs ro 0 0
/dev/sda3 /home ext4 rw 0 0
"""


def test_default_exclusions_match_node_exporter() -> None:
    """Virtual fs types and /dev, /proc, /sys, credentials and container storage are left out."""
    chosen = MountFilter().select(parse_mounts(TABLE))
    assert [m.mountpoint for m in chosen] == ["/run", "/", "/home", "/mnt/nas"]


def test_a_mount_point_mounted_twice_is_reported_once_with_the_last_mount() -> None:
    """The later mount shadows the earlier one, as the kernel does."""
    chosen = MountFilter().select(parse_mounts(TABLE))
    assert next(m for m in chosen if m.mountpoint == "/home").device == "/dev/sda3"


def test_empty_patterns_exclude_nothing() -> None:
    """Operators can turn the exclusions off."""
    mounts = parse_mounts(TABLE)
    assert len(MountFilter("", "").select(mounts)) == len({m.mountpoint for m in mounts})


def _usage(mount: Mount) -> FsUsage:
    return FsUsage(mount, size=100, free=50, avail=40, files=10, files_free=5)


def test_a_hung_stat_gives_device_error_within_the_timeout() -> None:
    """A dead NFS mount: the scrape returns after ~timeout, the others still have data."""
    release = threading.Event()
    calls: Counter[str] = Counter()

    def stat(mount: Mount) -> FsUsage:
        calls[mount.mountpoint] += 1
        if mount.mountpoint == "/mnt/nas":
            release.wait(30)
        return _usage(mount)

    mounts = MountFilter().select(parse_mounts(TABLE))
    bounded = BoundedStat(stat, timeout=0.3)
    t0 = time.monotonic()
    result = {u.mount.mountpoint: u for u in bounded.stat_all(mounts)}
    assert time.monotonic() - t0 < 10  # not the 30 s the stat hangs for
    assert result["/mnt/nas"].device_error
    assert not result["/"].device_error and result["/"].size == 100
    assert set(result) == {"/run", "/", "/home", "/mnt/nas"}
    assert bounded.stuck() == {"/mnt/nas"}
    assert calls == {"/run": 1, "/": 1, "/home": 1, "/mnt/nas": 1}

    # while it is stuck, the next scrape does not stat it again (nor wait for it)
    again = {u.mount.mountpoint: u for u in bounded.stat_all(mounts)}
    assert again["/mnt/nas"].device_error and not again["/home"].device_error
    assert calls == {"/run": 2, "/": 2, "/home": 2, "/mnt/nas": 1}
    assert not release.is_set() and bounded.stuck() == {"/mnt/nas"}  # returned while stuck

    # when the kernel answers, the mount is statted normally again
    release.set()
    deadline = time.monotonic() + 5
    while bounded.stuck() and time.monotonic() < deadline:
        time.sleep(0.01)
    healed = {u.mount.mountpoint: u for u in bounded.stat_all(mounts)}
    assert not healed["/mnt/nas"].device_error
    assert calls["/mnt/nas"] == 2


def test_a_failing_stat_sets_device_error() -> None:
    """statvfs raising (permission, stale handle) marks only that mount."""

    def stat(mount: Mount) -> FsUsage:
        if mount.mountpoint == "/home":
            raise PermissionError(13, os.strerror(13))
        return _usage(mount)

    mounts = MountFilter().select(parse_mounts(TABLE))
    result = {u.mount.mountpoint: u for u in BoundedStat(stat, timeout=1).stat_all(mounts)}
    assert result["/home"].device_error and not result["/run"].device_error


def test_local_file_systems_are_statted_in_the_scrape_and_the_rest_on_the_worker() -> None:
    """ext4, xfs and tmpfs mounts with no network mount above them are statted by the calling
    thread; NFS, and an ext4 disk mounted under the NFS mount, go to the bounded worker, so a
    dead server still cannot hang the scrape."""
    table = parse_mounts(TABLE + "/dev/sdc1 /mnt/nas/usb ext4 rw 0 0\n")
    mounts = MountFilter().select(table)
    direct = direct_mounts(table, mounts)
    assert direct == {"/run", "/", "/home"}
    threads: dict[str, str] = {}
    release = threading.Event()

    def stat(mount: Mount) -> FsUsage:
        threads[mount.mountpoint] = threading.current_thread().name
        if mount.mountpoint == "/mnt/nas":
            release.wait(30)
        return _usage(mount)

    t0 = time.monotonic()
    result = {u.mount.mountpoint: u for u in BoundedStat(stat, timeout=0.3).stat_all(mounts,
                                                                                      direct)}
    release.set()
    assert time.monotonic() - t0 < 10
    me = threading.current_thread().name
    assert {mp for mp, name in threads.items() if name == me} == direct
    assert threads["/mnt/nas"] == "fs-stat" and threads["/mnt/nas/usb"] == "fs-stat"
    assert result["/mnt/nas"].device_error and not result["/"].device_error
