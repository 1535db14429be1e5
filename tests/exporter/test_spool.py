"""Spool: durable across reopen, replayed oldest first, bounded with exact drop counts."""

from __future__ import annotations

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
