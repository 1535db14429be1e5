"""Spool: durable across reopen, replayed oldest first, bounded with exact drop counts."""

from __future__ import annotations

import errno
import logging
import os
import signal
from pathlib import Path

import pytest

from exporter.spool import Spool, SpoolError


def _lines(start: int, n: int) -> list[str]:
    return [f"m,host=h v={i}i {i}" for i in range(start, start + n)]


def test_batches_come_back_oldest_first(tmp_path: Path) -> None:
    """Appends of one segment are one batch; the next batch starts after it is removed."""
    spool = Spool(tmp_path, max_bytes=1 << 20, batch_lines=3)
    spool.append(_lines(0, 3))
    spool.append(_lines(3, 2))
    first = spool.oldest()
    assert first is not None and first.lines == [s.encode() for s in _lines(0, 3)]
    spool.remove(first.seq)
    second = spool.oldest()
    assert second is not None and second.lines == [s.encode() for s in _lines(3, 2)]
    assert spool.points() == 2


def test_survives_a_restart(tmp_path: Path) -> None:
    """A new Spool on the same directory replays what the old one held, in order."""
    old = Spool(tmp_path, max_bytes=1 << 20, batch_lines=2)
    for i in range(3):
        old.append(_lines(i * 2, 2))
    new = Spool(tmp_path, max_bytes=1 << 20, batch_lines=2)
    assert new.points() == 6
    seen: list[bytes] = []
    while (batch := new.oldest()) is not None:
        seen.extend(batch.lines)
        new.remove(batch.seq)
    assert seen == [s.encode() for s in _lines(0, 6)]
    new.append(_lines(100, 1))
    assert new.oldest().lines == [b"m,host=h v=100i 100"]  # type: ignore[union-attr]


def test_a_torn_last_line_is_cut_on_load(tmp_path: Path) -> None:
    """A crash during an append leaves a partial line; only complete lines are replayed."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(_lines(0, 2))
    seg = next(tmp_path.glob("*.lp"))
    with seg.open("ab") as fh:
        fh.write(b"m,host=h v=99")
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert again.points() == 2
    assert again.oldest().lines[-1] == b"m,host=h v=1i 1"  # type: ignore[union-attr]


def test_full_spool_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    """Past the limit, whole oldest segments go; dropped + kept == appended, newest kept."""
    spool = Spool(tmp_path, max_bytes=8192, batch_lines=10)
    appended = 0
    for i in range(100):
        spool.append(_lines(i * 10, 10))
        appended += 10
        assert spool.size() <= 8192
    assert spool.dropped > 0
    kept: list[bytes] = []
    while (batch := spool.oldest()) is not None:
        kept.extend(batch.lines)
        spool.remove(batch.seq)
    assert spool.dropped + len(kept) == appended
    assert kept[-1] == b"m,host=h v=999i 999"
    values = [int(line.split(b"v=")[1].split(b"i")[0]) for line in kept]
    assert values == list(range(appended - len(kept), appended))


def test_spool_full_is_logged_once_per_interval_with_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Dropping on every append logs one warning per interval, the next one with the count."""
    from homelab.logs import Throttle

    now = [0.0]
    spool = Spool(tmp_path, max_bytes=8192, batch_lines=10, full_log=Throttle(60, lambda: now[0]))
    with caplog.at_level(logging.WARNING, logger="exporter.spool"):
        for i in range(100):
            spool.append(_lines(i * 10, 10))
        first = [r.getMessage() for r in caplog.records]
        assert len(first) == 1 and "InfluxDB spool is full" in first[0], first
        drops = spool.dropped
        now[0] = 60.0
        spool.append(_lines(2000, 10))
        spool.append(_lines(2010, 10))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "more like it in the last 60 s" in messages[1], messages
    assert spool.dropped > drops  # every drop is still counted, only the log is quieter


def test_unusable_directory_names_the_setting(tmp_path: Path) -> None:
    """A spool directory that is a file gives an error naming spool_dir."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpoolError, match="spool_dir"):
        Spool(blocker / "spool", max_bytes=1 << 20)


def test_the_segment_in_flight_is_kept_until_released(tmp_path: Path) -> None:
    """Past the limit the next-oldest segments go, not the one being sent (the limit may be
    exceeded by it meanwhile); once released, the limit holds again and counts stay exact."""
    spool = Spool(tmp_path, max_bytes=1000, batch_lines=10)
    spool.append(_lines(0, 40))  # one segment of ~700 bytes, about to be sent
    batch = spool.oldest()
    assert batch is not None
    for i in range(4, 20):
        spool.append(_lines(i * 10, 10))
    assert spool.dropped > 0
    assert spool.oldest() == batch  # still there, still first
    assert 1000 < spool.size() <= 1000 + len(b"".join(line + b"\n" for line in batch.lines))
    assert spool.dropped + spool.points() == 200
    kept_newest = spool.points() - 40
    spool.release(batch.seq)
    assert spool.size() <= 1000
    assert spool.dropped + spool.points() == 200
    assert spool.points() == kept_newest  # the oldest, once released, went first
    first = spool.oldest()
    assert first is not None and first.seq != batch.seq


class _Disk:
    """os.write with a byte budget: past it, a short write, then ENOSPC (a disk filling up)."""

    def __init__(self, budget: int, chunk: int = 1 << 30) -> None:
        self.budget = budget
        self.chunk = chunk  # at most this many bytes per call, like a pipe or a full disk

    def write(self, fd: int, data: memoryview) -> int:
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self.budget, self.chunk)
        self.budget -= n
        return os.write(fd, data[:n])


def test_short_writes_are_completed(tmp_path: Path) -> None:
    """os.write returning less than asked is looped over: every line lands whole."""
    disk = _Disk(budget=1 << 20, chunk=7)
    spool = Spool(tmp_path, max_bytes=1 << 20, write=disk.write)
    assert spool.append(_lines(0, 5)) == 5
    assert spool.append(_lines(5, 5)) == 5
    assert next(tmp_path.glob("*.lp")).read_bytes().splitlines() == [
        s.encode() for s in _lines(0, 10)
    ]


def test_disk_full_mid_append_cuts_the_torn_line_and_counts_the_points(tmp_path: Path) -> None:
    """ENOSPC after a partial write: the segment is cut back, the points are counted lost,
    and the next append is not glued onto a torn line (in memory and after a restart)."""
    first = _lines(0, 3)
    size = len(("\n".join(first) + "\n").encode())
    disk = _Disk(budget=size + 10)  # the second append gets 10 bytes down, then ENOSPC
    spool = Spool(tmp_path, max_bytes=1 << 20, write=disk.write)
    assert spool.append(first) == 3
    assert spool.append(_lines(3, 4)) == 0
    assert spool.lost == 4 and spool.points() == 3
    seg = next(tmp_path.glob("*.lp"))
    assert seg.stat().st_size == size
    disk.budget = 1 << 20  # space freed
    assert spool.append(_lines(7, 2)) == 2
    expected = [s.encode() for s in first + _lines(7, 2)]
    assert spool.oldest().lines == expected  # type: ignore[union-attr]
    assert Spool(tmp_path, max_bytes=1 << 20).oldest().lines == expected  # type: ignore[union-attr]


def test_disk_full_on_a_new_segment_leaves_no_file(tmp_path: Path) -> None:
    """A first append that fails leaves no empty or torn segment behind; counts are exact."""
    disk = _Disk(budget=5)
    spool = Spool(tmp_path, max_bytes=1 << 20, write=disk.write)
    assert spool.append(_lines(0, 3)) == 0
    assert spool.lost == 3 and spool.points() == 0 and spool.oldest() is None
    assert list(tmp_path.glob("*.lp")) == []
    disk.budget = 1 << 20
    spool.append(_lines(3, 1))
    assert spool.oldest().lines == [b"m,host=h v=3i 3"]  # type: ignore[union-attr]


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_replace_fsyncs_the_new_file_before_renaming_and_the_directory_after(
    tmp_path: Path,
) -> None:
    """The temporary file is fsynced while the segment still holds the old lines; the
    directory is fsynced once the segment holds the new ones and the temporary is gone."""
    events: list[tuple[str, bytes, bool]] = []
    spool_dir = tmp_path / "spool"

    def fsync(fd: int) -> None:
        seg = spool_dir / f"{1:016d}.lp"
        tmp_exists = seg.with_suffix(".tmp").exists()
        events.append((_fd_path(fd), seg.read_bytes() if seg.exists() else b"", tmp_exists))
        os.fsync(fd)

    spool = Spool(spool_dir, max_bytes=1 << 20, fsync=fsync)
    spool.append(_lines(0, 4))
    events.clear()
    spool.replace(1, [s.encode() for s in _lines(2, 2)])
    old = ("\n".join(_lines(0, 4)) + "\n").encode()
    new = ("\n".join(_lines(2, 2)) + "\n").encode()
    assert events == [
        (str(spool_dir / f"{1:016d}.tmp"), old, True),
        (str(spool_dir), new, False),
    ]


def test_segment_create_and_delete_fsync_the_directory(tmp_path: Path) -> None:
    """A new segment file and a removed one are followed by an fsync of the directory."""
    synced: list[str] = []

    def fsync(fd: int) -> None:
        synced.append(_fd_path(fd))
        os.fsync(fd)

    spool = Spool(tmp_path, max_bytes=1 << 20, fsync=fsync)
    spool.append(_lines(0, 1))
    seg = str(tmp_path / f"{1:016d}.lp")
    assert synced == [seg, str(tmp_path)]  # the data, then the directory entry
    synced.clear()
    spool.append(_lines(1, 1))
    assert synced == [seg]  # an append to an existing segment needs no directory sync
    synced.clear()
    spool.remove(1)
    assert synced == [str(tmp_path)]


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_crash_during_replace_leaves_the_old_or_the_new_segment(
    tmp_path: Path, kill_at: int
) -> None:
    """A process killed inside replace (at its first or second fsync) leaves the segment
    whole, old or new, and a reopened spool replays exactly one of them."""
    Spool(tmp_path, max_bytes=1 << 20).append(_lines(0, 4))
    old = [s.encode() for s in _lines(0, 4)]
    new = [s.encode() for s in _lines(2, 2)]
    pid = os.fork()
    if pid == 0:  # the child dies at the chosen fsync, as a crash would
        calls = 0

        def fsync(fd: int) -> None:
            nonlocal calls
            calls += 1
            os.fsync(fd)
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        try:
            Spool(tmp_path, max_bytes=1 << 20, fsync=fsync).replace(1, new)
        finally:
            os._exit(3)  # not reached when killed
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    lines = reopened.oldest().lines  # type: ignore[union-attr]
    assert lines == (old if kill_at == 1 else new)
    assert list(tmp_path.glob("*.tmp")) == []


def test_a_failed_rewrite_skips_the_delivered_points_in_memory(tmp_path: Path) -> None:
    """A full disk during replace: the segment stays as it was, but the delivered points are
    neither sent again nor counted as waiting or dropped."""
    disk = _Disk(budget=1 << 20)
    spool = Spool(tmp_path, max_bytes=1 << 20, write=disk.write)
    spool.append(_lines(0, 5))
    disk.budget = 0
    spool.replace(1, [s.encode() for s in _lines(3, 2)])
    assert list(tmp_path.glob("*.tmp")) == []
    assert spool.points() == 2
    assert spool.oldest().lines == [s.encode() for s in _lines(3, 2)]  # type: ignore[union-attr]
    assert spool.remove(1) == 2
