"""/proc and sysfs files kept open between scrapes and re-read with pread(2) at offset 0.

A scrape reads about 130 kernel files (11 per network interface under /sys/class/net). Each
open/read/close costs 20 to 25 us here, most of it the path walk of open(); a pread at offset 0
on a descriptor kept open costs 2 us, and the kernel generates the content afresh at every
read at offset 0 (seq_file and sysfs attributes restart there). So `OpenFiles` opens each path
once and preads it afterwards.

Only kernel file systems get this: on an ordinary file (a test's fixture tree) a kept
descriptor would go on reading a file that was replaced by rename. `kernel_fs(root)` tells,
from /proc/self/mountinfo, whether a root is procfs or sysfs. A descriptor whose file went
away (an interface removed, a process gone) fails its pread; it is then closed and the path
opened again, which raises FileNotFoundError as a plain read would. One that refuses with
EINVAL (an attribute with no value now, such as a down link's speed) is kept and asked again.
`forget(prefix)` closes the descriptors of a removed device at once; past `limit`
descriptors, paths are read with open/read/close as before.

Example::

    files = OpenFiles(enabled=kernel_fs("/sys"))
    files.read("/sys/class/net/eth0/mtu")        # b"1500\\n"
    files.attr("/sys/class/net/eth0/speed")      # b"1000", or None when the kernel refuses
"""

from __future__ import annotations

import errno
import logging
import os
import threading

log = logging.getLogger(__name__)

KERNEL_FS_TYPES = frozenset(("proc", "sysfs"))
CHUNK = 65536
DEFAULT_LIMIT = 2048
# A sysfs attribute that exists but has no value now (speed, duplex or carrier of a link that is
# down, lo's speed) fails its read with EINVAL, and every read at offset 0 asks the driver
# again: its descriptor is kept, so that a scrape does not open ~10 such paths afresh.
REFUSED = frozenset((errno.EINVAL,))


def mount_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The file system type of the mount holding `path` ("" when it cannot be told)."""
    real = os.path.realpath(path)
    best, fstype = -1, ""
    try:
        with open(mountinfo, "rb") as fh:
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, fstype = len(point), right.split()[0]
    return fstype


def kernel_fs(path: str) -> bool:
    """True when `path` is on procfs or sysfs, where a kept descriptor reads fresh content."""
    return mount_type(path) in KERNEL_FS_TYPES


def _read_whole(fd: int) -> bytes:
    data = os.pread(fd, CHUNK, 0)
    if len(data) < CHUNK:
        return data
    chunks = [data]
    offset = len(data)
    while True:
        more = os.pread(fd, CHUNK, offset)
        if not more:
            return b"".join(chunks)
        chunks.append(more)
        offset += len(more)


class OpenFiles:
    """Descriptors of kernel files, opened once and re-read at offset 0 (thread-safe)."""

    def __init__(self, enabled: bool = True, limit: int = DEFAULT_LIMIT) -> None:
        self.enabled = enabled
        self.limit = limit
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Descriptors held."""
        return len(self._fds)

    def read(self, path: str) -> bytes:
        """The whole content of `path`; OSError (FileNotFoundError, ...) as open/read would."""
        if not self.enabled:
            return _read_once(path)
        with self._lock:
            fd = self._fds.get(path)
            if fd is not None:
                try:
                    return _read_whole(fd)
                except OSError as exc:
                    if exc.errno in REFUSED:
                        raise  # no value now (a down link's speed): the next pread asks again
                    # the file went away (ENODEV, ESRCH): start over
                    del self._fds[path]
                    os.close(fd)
            if len(self._fds) >= self.limit:
                return _read_once(path)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                data = _read_whole(fd)
            except OSError as exc:
                if exc.errno in REFUSED:
                    self._fds[path] = fd
                else:
                    os.close(fd)
                raise
            self._fds[path] = fd
            return data

    def attr(self, path: str) -> bytes | None:
        """A sysfs attribute, stripped; None when it is absent or the kernel refuses it."""
        try:
            return self.read(path).strip()
        except OSError:
            return None

    def forget(self, prefix: str) -> None:
        """Close the descriptors of every path under `prefix` (a device that went away)."""
        with self._lock:
            gone = [p for p in self._fds if p.startswith(prefix)]
            for path in gone:
                os.close(self._fds.pop(path))

    def close(self) -> None:
        """Close every descriptor."""
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


def _read_once(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, CHUNK)]
        while chunks[-1]:
            chunks.append(os.read(fd, CHUNK))
    finally:
        os.close(fd)
    return b"".join(chunks)
