"""Thread helpers for tests that must know, not guess, that threads have reached a point."""

from __future__ import annotations

import threading
from types import TracebackType


class EntryCountingLock:
    """A drop-in for a `threading.Lock` used as a context manager that counts its entries.

    Swapped into an object under test, it tells a test how many callers have got past the
    lock, so that a test can wait for all of them instead of sleeping and hoping.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self.entries = 0

    def __enter__(self) -> bool:
        self._lock.acquire()
        with self._cond:
            self.entries += 1
            self._cond.notify_all()
        return True

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()

    def wait_for_entries(self, n: int, timeout: float) -> bool:
        """Wait until the lock has been entered `n` times; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.entries >= n, timeout)
