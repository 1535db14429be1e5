"""A bounded, durable spool of line protocol on disk, replayed oldest first.

Points go to numbered segment files (`0000000000000001.lp`, ...), one line per point; each
append is fsynced, so what was sampled survives an InfluxDB outage and an exporter restart.
The open (newest) segment takes appends; the sender reads the oldest closed segment as one
batch and removes it once InfluxDB accepted it. When the spool grows past its byte limit the
oldest segments are dropped and their points counted. The segment being sent is never dropped:
its fate is decided by InfluxDB's answer (written, or released and dropped later), so no point
is counted both written and dropped; while a request is in flight the spool may exceed its
limit by that one segment.

Writes are complete or undone: `os.write` may write less than asked (a full disk), so appends
loop until every byte is down, and on an error the segment is cut back to its last complete
line, so nothing is glued onto a torn one. Points that could not be spooled are counted in
`lost` (the writer reports them as dropped) and logged. A segment rewritten after a partial
delivery goes through a temporary file that is fsynced before `os.replace`; creating, replacing
and deleting segment files fsyncs the directory, so a power cut leaves each segment either old
or new, never empty or missing lines it had.

Example::

    spool = Spool(Path("var/spool"), max_bytes=64 << 20, batch_lines=5000)
    spool.append(["cpu,host=a usage_idle=99 1700000000000"])
    batch = spool.oldest()            # Batch(seq, lines) or None; now in flight
    spool.remove(batch.seq)           # after InfluxDB accepted it
    spool.release(batch.seq)          # or: not accepted, may be dropped again
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from homelab.logs import Throttle

log = logging.getLogger(__name__)

SUFFIX = ".lp"
TMP_SUFFIX = ".tmp"
LOST_LOG_EVERY = 60  # while appends keep failing (disk full), repeat the error every 60th time


@dataclass(frozen=True, slots=True)
class Batch:
    """One segment's points, oldest first."""

    seq: int
    lines: list[bytes]


@dataclass(slots=True)
class _Segment:
    seq: int
    size: int
    lines: int
    skip: int = 0  # leading lines already delivered (a rewrite that failed); memory only


FULL_LOG_INTERVAL_SECONDS = 60.0


class SpoolError(OSError):
    """The spool directory cannot be used; the message names it and what to do."""


class Spool:
    """Segment files under `directory`, at most `max_bytes` in total."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        batch_lines: int = 5000,
        write: Callable[[int, memoryview], int] = os.write,
        fsync: Callable[[int], None] = os.fsync,
        full_log: Throttle | None = None,
    ) -> None:
        self.directory = Path(directory)
        # While InfluxDB is away the spool drops points on every append: say so once a minute.
        self._full_log = full_log or Throttle(FULL_LOG_INTERVAL_SECONDS)
        self.max_bytes = max_bytes
        self.batch_lines = batch_lines
        self.segment_bytes = max(4096, min(max_bytes // 16, 4 << 20))
        self.dropped = 0  # oldest points dropped by the size limit
        self.lost = 0  # points that could not be written to the spool (disk full, I/O error)
        self._write = write  # injectable, so tests can make writes short or fail
        self._fsync = fsync
        self._failed_appends = 0
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._open: _Segment | None = None
        self._in_flight: int | None = None  # seq of the segment the sender is posting
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._load()
        except OSError as exc:
            raise SpoolError(
                f"cannot use the spool directory {self.directory}: {exc}; set "
                "[exporter.influx] spool_dir (HOMELAB_EXPORTER__INFLUX__SPOOL_DIR) to a writable "
                "directory"
            ) from exc

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:016d}{SUFFIX}"

    def _load(self) -> None:
        for tmp in self.directory.glob(f"*{TMP_SUFFIX}"):
            tmp.unlink()  # a rewrite cut short by a crash: the segment itself is old or new
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                seq = int(path.stem)
            except ValueError:
                continue
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                # A crash in the middle of an append: keep the complete lines.
                data = data[: data.rfind(b"\n") + 1]
                path.write_bytes(data)
            if not data:
                path.unlink()
                continue
            self._segments.append(_Segment(seq, len(data), data.count(b"\n")))
        if self._segments:
            log.info(
                "spool %s holds %d points from before the restart; replaying them in order",
                self.directory,
                self.points(),
            )

    # -- figures ----------------------------------------------------------------------------
    def points(self) -> int:
        """Points waiting."""
        return sum(s.lines - s.skip for s in self._segments)

    def size(self) -> int:
        """Bytes waiting."""
        return sum(s.size for s in self._segments)

    # -- operations -------------------------------------------------------------------------
    def append(self, lines: list[str]) -> int:
        """Append points durably (written and fsynced), then enforce the size limit.

        Returns how many points were spooled: all, or none when the write failed (a full disk):
        then the segment is cut back to what it held, and the points are counted in `lost`.
        """
        if not lines:
            return 0
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            seg = self._open
            new = seg is None or seg.lines >= self.batch_lines or seg.size >= self.segment_bytes
            if seg is None or new:  # the new segment joins the list once written
                seq = self._segments[-1].seq + 1 if self._segments else 1
                seg = _Segment(seq, 0, 0)
            try:
                self._append_to(seg, data, new)
            except OSError as exc:
                self._lose(len(lines), exc)
                return 0
            if new:
                self._segments.append(seg)
                self._open = seg
            seg.size += len(data)
            seg.lines += len(lines)
            if self._failed_appends:
                log.info("the InfluxDB spool %s takes points again", self.directory)
                self._failed_appends = 0
            self._enforce_limit()
        return len(lines)

    def _append_to(self, seg: _Segment, data: bytes, new: bool) -> None:
        """Write `data` whole at the end of `seg`, or leave the file as it was and raise."""
        path = self._path(seg.seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            try:
                self._write_all(fd, data)
                self._fsync(fd)
            except OSError:
                try:
                    if new:  # unlinking needs no free space; the next append reuses the name
                        path.unlink(missing_ok=True)
                    else:
                        os.ftruncate(fd, seg.size)
                        self._fsync(fd)
                except OSError as exc:
                    # The torn tail stays on disk: close the segment to appends so nothing is
                    # glued onto it; `oldest` reads only its `size` good bytes.
                    log.error("cannot cut %s back to %d bytes: %s", path, seg.size, exc)
                    if seg is self._open:
                        self._open = None
                raise
        finally:
            os.close(fd)
        if new:
            self._sync_dir()

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._write(fd, view)
            if n <= 0:  # a regular file says ENOSPC with an error, but never loop forever
                raise OSError(errno.ENOSPC, "no progress writing the spool segment")
            view = view[n:]

    def _lose(self, count: int, exc: OSError) -> None:
        self.lost += count
        if self._failed_appends % LOST_LOG_EVERY == 0:
            log.error(
                "cannot write %d points to the InfluxDB spool %s: %s; they are dropped "
                "(%d lost since start). Free space there or set [exporter.influx] spool_dir",
                count, self.directory, exc, self.lost,
            )  # fmt: skip
        self._failed_appends += 1

    def _sync_dir(self) -> None:
        """fsync the directory, so a created, renamed or deleted segment file stays so."""
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            log.debug("cannot open %s to fsync it: %s", self.directory, exc)
            return
        try:
            self._fsync(fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # filesystems without dir fsync
                log.warning("fsync of the spool directory %s failed: %s", self.directory, exc)
        finally:
            os.close(fd)

    def _enforce_limit(self) -> None:
        # The segment in flight is not counted here and never dropped: InfluxDB's answer
        # decides its fate, and `release` applies the limit to it afterwards.
        dropped = 0
        size = sum(s.size for s in self._segments if s.seq != self._in_flight)
        i = 0
        while size > self.max_bytes and i < len(self._segments):
            seg = self._segments[i]
            if seg.seq == self._in_flight:
                i += 1
                continue
            del self._segments[i]
            if seg is self._open:
                self._open = None
            self._path(seg.seq).unlink(missing_ok=True)
            size -= seg.size
            dropped += seg.lines - seg.skip
        if dropped:
            self._sync_dir()
            self.dropped += dropped
            held = self._full_log.allow()
            if held is not None:
                log.warning(
                    "InfluxDB spool is full (%d bytes): dropped the %d oldest points "
                    "(%d dropped since start)%s",
                    self.max_bytes,
                    dropped,
                    self.dropped,
                    self._full_log.note(held),
                )

    def oldest(self) -> Batch | None:
        """The oldest segment's points, now in flight: the size limit no longer drops it
        until `remove`, `replace` or `release` (it closes the open segment if it is the only
        one, so appends go to a new one)."""
        with self._lock:
            if not self._segments:
                return None
            seg = self._segments[0]
            if seg is self._open:
                self._open = None
            with open(self._path(seg.seq), "rb") as fh:
                data = fh.read(seg.size)  # not a torn tail that could not be cut off
            self._in_flight = seg.seq
        return Batch(seg.seq, data.splitlines()[seg.skip :])

    def release(self, seq: int) -> None:
        """The send of `seq` is over: it may be dropped again if the spool is over its limit."""
        with self._lock:
            if self._in_flight == seq:
                self._in_flight = None
                self._enforce_limit()

    def remove(self, seq: int) -> int:
        """Forget a delivered (or rejected) segment; returns its number of points."""
        with self._lock:
            if self._in_flight == seq:
                self._in_flight = None
            for i, seg in enumerate(self._segments):
                if seg.seq == seq:
                    del self._segments[i]
                    if seg is self._open:
                        self._open = None
                    self._path(seq).unlink(missing_ok=True)
                    self._sync_dir()
                    return seg.lines - seg.skip
        return 0

    def replace(self, seq: int, lines: list[bytes]) -> None:
        """Keep only `lines` of a segment (the rest was delivered or rejected).

        Crash-safe: the new content is written to a temporary file and fsynced, renamed over
        the segment, and the directory fsynced. If that fails (a full disk), the segment stays
        as it was and the delivered lines are skipped in memory; only a restart before the
        segment is sent would send them again (InfluxDB overwrites identical points).
        """
        data = b"".join(line + b"\n" for line in lines)
        with self._lock:
            for seg in self._segments:
                if seg.seq == seq:
                    path = self._path(seq)
                    tmp = path.with_suffix(TMP_SUFFIX)
                    try:
                        self._write_file(tmp, data)
                        os.replace(tmp, path)
                    except OSError as exc:
                        tmp.unlink(missing_ok=True)
                        log.warning(
                            "cannot rewrite the spool segment %s: %s; skipping its %d sent "
                            "points in memory", path, exc, seg.lines - len(lines),
                        )  # fmt: skip
                        seg.skip = seg.lines - len(lines)
                        return
                    self._sync_dir()
                    seg.size = len(data)
                    seg.lines = len(lines)
                    seg.skip = 0
                    return

    def _write_file(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._write_all(fd, data)
            self._fsync(fd)
        finally:
            os.close(fd)
