"""Putting restored data folders in place: staged beside the target, swapped by renames with
the previous folder kept aside, undone when a rename fails, refused while a process uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters import data_swap
from bot.adapters.data_swap import stage, swap, unswap, users_of


def _folder(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    (path / "marker").write_text(marker)
    return path


def test_stage_and_swap_keep_the_previous_folder_aside(tmp_path: Path) -> None:
    """The target gets the restored folder; the old one is <dir>.before-restore-<time>; a new
    target has nothing aside."""
    old = _folder(tmp_path / "data", "old")
    fresh = tmp_path / "other"
    plan = stage({_folder(tmp_path / "r1", "new"): old, _folder(tmp_path / "r2", "n2"): fresh},
                 "T")  # fmt: skip
    assert (tmp_path / "data.restoring-T" / "marker").read_text() == "new"
    assert (old / "marker").read_text() == "old"  # staging changes no target
    done = swap(plan)
    assert done == [(old, tmp_path / "data.before-restore-T"), (fresh, None)]
    assert (old / "marker").read_text() == "new" and (fresh / "marker").read_text() == "n2"
    assert (tmp_path / "data.before-restore-T" / "marker").read_text() == "old"
    unswap(plan)  # what a failed database swap does afterwards
    assert (old / "marker").read_text() == "old" and not fresh.exists()
    assert not (tmp_path / "data.before-restore-T").exists()


def test_a_failing_rename_undoes_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second folder's rename fails: the first is put back, the staged copies removed."""
    a, b = _folder(tmp_path / "a", "a-old"), _folder(tmp_path / "b", "b-old")
    plan = stage({_folder(tmp_path / "ra", "a-new"): a, _folder(tmp_path / "rb", "b-new"): b},
                 "T")  # fmt: skip
    real = os.replace

    def failing(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == b and ".restoring-" in str(src):  # the staged copy's rename only
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(data_swap.os, "replace", failing)
    with pytest.raises(OSError, match="No space"):
        swap(plan)
    monkeypatch.setattr(data_swap.os, "replace", real)
    assert (a / "marker").read_text() == "a-old" and (b / "marker").read_text() == "b-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_failed_copy_leaves_no_staged_folder(tmp_path: Path) -> None:
    """A source that cannot be moved: OSError, and the copies staged before it are gone."""
    a = _folder(tmp_path / "a", "old")
    with pytest.raises(OSError):
        stage({_folder(tmp_path / "ra", "new"): a, tmp_path / "missing": tmp_path / "b"}, "T")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_users_are_found_by_open_files_cwd_and_the_lock(tmp_path: Path) -> None:
    """A process with its working directory there, one with a file open there, and one
    holding an flock on <dir>/lock (Prometheus' way) are each seen; none, then nothing."""
    folder = _folder(tmp_path / "data", "x")
    assert users_of(folder) == [] and users_of(tmp_path / "absent") == []
    scripts = {
        "cwd": "import time; time.sleep(60)",
        "open": f"f = open({str(folder / 'marker')!r}); import time; time.sleep(60)",
    }
    for what, code in scripts.items():
        proc = subprocess.Popen([sys.executable, "-c", code],
                                cwd=folder if what == "cwd" else tmp_path,
                                stdout=subprocess.PIPE)  # fmt: skip
        try:
            found = []
            for _ in range(100):
                found = users_of(folder)
                if found:
                    break
                subprocess.run(["sleep", "0.05"], check=True)
            assert [u.split()[0] for u in found] == [str(proc.pid)], what
        finally:
            proc.kill()
            proc.wait()
    (folder / "lock").write_text("")
    lock = (
        "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", lock, str(folder / "lock")],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert users_of(folder)  # by its open file, or by the lock
        assert data_swap._locked(folder / "lock")
    finally:
        holder.kill()
        holder.wait()
    assert not data_swap._locked(folder / "lock") and users_of(folder) == []
