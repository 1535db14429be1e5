"""A bounded, durable spool of line protocol on disk, replayed oldest first.

Points go to numbered segment files (`0000000000000001.lp`, ...), one line per point; each
append is fsynced, so what was sampled survives an InfluxDB outage and an exporter restart.
The open (newest) segment takes appends; the sender reads the oldest closed segment as one
batch and removes it once InfluxDB accepted it. When the spool grows past its byte limit the
oldest segments are dropped and their points counted. The segment being sent is never dropped:
its fate is decided by InfluxDB's answer (written, or released and dropped later), so no point
is counted both written and dropped; while a request is in flight the spool may exceed its
limit by that one segment.

Example::

    spool = Spool(Path("var/spool"), max_bytes=64 << 20, batch_lines=5000)
    spool.append(["cpu,host=a usage_idle=99 1700000000000"])
    batch = spool.oldest()            # Batch(seq, lines) or None; now in flight
    spool.remove(batch.seq)           # after InfluxDB accepted it
    spool.release(batch.seq)          # or: not accepted, may be dropped again
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".lp"


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


class SpoolError(OSError):
    """The spool directory cannot be used; the message names it and what to do."""


class Spool:
    """Segment files under `directory`, at most `max_bytes` in total."""

    def __init__(self, directory: Path, max_bytes: int, batch_lines: int = 5000) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.batch_lines = batch_lines
        self.segment_bytes = max(4096, min(max_bytes // 16, 4 << 20))
        self.dropped = 0
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
        return sum(s.lines for s in self._segments)

    def size(self) -> int:
        """Bytes waiting."""
        return sum(s.size for s in self._segments)

    # -- operations -------------------------------------------------------------------------
    def append(self, lines: list[str]) -> None:
        """Append points durably (written and fsynced), then enforce the size limit."""
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            seg = self._open
            if seg is None or seg.lines >= self.batch_lines or seg.size >= self.segment_bytes:
                seq = self._segments[-1].seq + 1 if self._segments else 1
                seg = self._open = _Segment(seq, 0, 0)
                self._segments.append(seg)
            fd = os.open(self._path(seg.seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            seg.size += len(data)
            seg.lines += len(lines)
            self._enforce_limit()

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
            dropped += seg.lines
        if dropped:
            self.dropped += dropped
            log.warning(
                "InfluxDB spool is full (%d bytes): dropped the %d oldest points "
                "(%d dropped since start)",
                self.max_bytes,
                dropped,
                self.dropped,
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
            data = self._path(seg.seq).read_bytes()
            self._in_flight = seg.seq
        return Batch(seg.seq, data.splitlines())

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
                    return seg.lines
        return 0

    def replace(self, seq: int, lines: list[bytes]) -> None:
        """Keep only `lines` of a segment (the rest was delivered)."""
        data = b"".join(line + b"\n" for line in lines)
        with self._lock:
            for seg in self._segments:
                if seg.seq == seq:
                    tmp = self._path(seq).with_suffix(".tmp")
                    tmp.write_bytes(data)
                    os.replace(tmp, self._path(seq))
                    seg.size = len(data)
                    seg.lines = len(lines)
                    return
