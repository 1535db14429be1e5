"""The bot's file_sd file: read, and changed under a lock with an atomic replace.

Prometheus watches the file (inotify, plus its refresh interval) and re-reads it whole, so the
new content is written to a hidden temporary file in the same folder, flushed to disk and
renamed over the old one: Prometheus sees the old list or the new, never half of one. The
temporary name starts with '.', so no `homelab-exporter*.yml` glob matches it. An flock on
`.<name>.lock` beside it serialises the bot and a console command changing it at once.

Example::

    registry = FileSdRegistry(Path("deploy/file_sd/local/homelab-exporter-bot.yml"))
    registry.update(lambda hosts: add(hosts, check_host("nas", "192.168.1.5")))
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from bot.domain.hosts import HostRegistryError, HostTarget, from_file_sd, to_file_sd

log = logging.getLogger(__name__)

HEADER = (
    "# Written by homelab-bot (/host add | remove): edit with those commands, not by hand.\n"
    "# Prometheus re-reads this file_sd file on change, without a reload.\n"
)


class FileSdRegistry:
    """The hosts in one file_sd file (a HostRegistry for bot.services.hosts)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def load(self) -> tuple[HostTarget, ...]:
        """The registered hosts; none when the file does not exist yet."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise HostRegistryError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise HostRegistryError(f"{self.path} is not YAML: {exc}") from exc
        return from_file_sd(doc, str(self.path))

    def update(
        self, change: Callable[[tuple[HostTarget, ...]], tuple[HostTarget, ...]]
    ) -> tuple[HostTarget, ...]:
        """Apply `change` to the hosts and write the result (when it differs); return it."""
        with self._locked():
            before = self.load()
            after = change(before)
            if after != before:
                self._write(after)
            return after

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT,
                         0o644)  # fmt: skip
        except OSError as exc:
            raise HostRegistryError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, hosts: tuple[HostTarget, ...]) -> None:
        body = HEADER + yaml.safe_dump(to_file_sd(hosts), sort_keys=False, default_flow_style=False)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(body)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)  # Prometheus runs as another user
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as exc:
            raise HostRegistryError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        log.info("file_sd %s: %d hosts", self.path, len(hosts))
