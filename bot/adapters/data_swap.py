"""Putting restored data folders in place (Prometheus' TSDB, InfluxDB's meta/data/wal), the
previous ones kept aside, and refusing while a process still uses them.

`restore` verifies everything first; this module only moves verified folders. The folders are
first copied (or renamed, on the same filesystem) to a staging name beside each target, so the
swap itself is two renames per folder: `DIR` -> `DIR.before-restore-<time>`, then the staged
copy -> `DIR`. When one of the renames fails, those done are undone, so the targets are either
all restored or all as they were.

A folder is in use when a process has a file or its working directory under it (read from
/proc, which shows another user's processes only to root), or, for Prometheus, when its
`lock` file is locked (Prometheus holds an flock on `<storage.tsdb.path>/lock` while it runs).

Example::

    plan = stage({Path("restored/prometheus"): Path("/var/lib/prometheus")}, "20261203T1415Z")
    done = swap(plan)  # [(target, previous or None)]
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Staged:
    """A verified folder copied beside its target, ready to be renamed into place."""

    staged: Path
    target: Path
    aside: Path


def users_of(folder: Path) -> list[str]:
    """'<pid> (<command>)' of every process with a file or its working directory in `folder`."""
    if not folder.exists():
        return []
    root = folder.resolve()
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        links = [entry / "cwd"]
        with contextlib.suppress(OSError):
            links += list((entry / "fd").iterdir())
        for link in links:
            try:
                where = Path(os.readlink(link))
            except OSError:
                continue
            if where == root or root in where.parents:
                found.append(f"{entry.name} ({_command(entry)})")
                break
    if not found and _locked(root / "lock"):
        found.append("a process holding its lock file")
    return found


def _command(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return "?"


def _locked(lock: Path) -> bool:
    """True when another process holds an flock on `lock` (Prometheus' data folder lock)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def stage(folders: Mapping[Path, Path], stamp: str) -> list[Staged]:
    """Copy (or rename) each verified source folder to `<target>.restoring-<stamp>`.

    The staged copy takes the owner of the folder it replaces when this runs as root (the
    services run as their own users). OSError: the staged copies made so far are removed.
    """
    plan: list[Staged] = []
    try:
        for source, target in folders.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(f"{target.name}.restoring-{stamp}")
            shutil.rmtree(staged, ignore_errors=True)
            shutil.move(str(source), str(staged))
            if target.exists() and os.geteuid() == 0:
                _chown_like(staged, target)
            plan.append(
                Staged(staged, target, target.with_name(f"{target.name}.before-restore-{stamp}"))
            )
    except OSError:
        for s in plan:
            shutil.rmtree(s.staged, ignore_errors=True)
        raise
    return plan


def _chown_like(tree: Path, like: Path) -> None:
    st = like.stat()
    for dirpath, dirs, files in os.walk(tree):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
            os.lchown(name, st.st_uid, st.st_gid)


def swap(plan: list[Staged]) -> list[tuple[Path, Path | None]]:
    """Rename each target aside and its staged copy in; undo every rename if one fails."""
    try:
        for s in plan:
            if s.target.exists():
                os.replace(s.target, s.aside)
            os.replace(s.staged, s.target)
    except OSError:
        unswap(plan)
        raise
    for s in plan:
        log.info("restore: %s put in place", s.target)
    return [(s.target, s.aside if s.aside.exists() else None) for s in plan]


def unswap(plan: list[Staged]) -> None:
    """Undo `swap` (as far as it got): each target back from aside; staged copies removed."""
    for s in reversed(plan):
        with contextlib.suppress(OSError):
            if s.target.exists() and not s.staged.exists():
                os.replace(s.target, s.staged)
            if s.aside.exists() and not s.target.exists():
                os.replace(s.aside, s.target)
    discard(plan)


def discard(plan: list[Staged]) -> None:
    """Remove the staged copies (the restore stopped before the swap)."""
    for s in plan:
        shutil.rmtree(s.staged, ignore_errors=True)
