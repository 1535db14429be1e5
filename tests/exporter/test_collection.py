"""Collection: partial data on failure, one collection per concurrent scrapes, cached slow data."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from exporter.collection import Collection, SingleFlight
from exporter.sampling import Sampler, Temperature
from tests.exporter.conftest import fake_psutil
from tests.harness.threads import EntryCountingLock


def _status(snap, name):  # type: ignore[no-untyped-def]
    return next(s for s in snap.statuses if s.name == name)


def test_a_failing_source_gives_partial_data_and_success_0(procfs: Path, sysfs: Path) -> None:
    """An unparsable /proc/diskstats leaves disks empty and diskstats success 0; the rest is
    there."""
    (procfs / "diskstats").write_text("8 0 sda x x x x x x x x x x x x x x\n")
    sampler = Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
    snap = Collection(sampler).snapshot()
    assert snap.disks == () and snap.diskstats == ()
    assert _status(snap, "diskstats").success is False
    assert _status(snap, "cpu").success is True and len(snap.cpus) == 2
    assert snap.memory is not None and snap.load == (0.44, 0.26, 0.12)


def test_a_missing_proc_file_fails_only_its_collector(procfs: Path, sysfs: Path) -> None:
    """Without /proc/meminfo, meminfo fails and loadavg still succeeds."""
    (procfs / "meminfo").unlink()
    snap = Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())).snapshot()
    assert snap.memory is None and _status(snap, "meminfo").success is False
    assert _status(snap, "loadavg").success is True


def test_concurrent_callers_share_one_call() -> None:
    """Eight callers arriving while a collection runs all get that collection's result."""
    calls = []
    entered = EntryCountingLock()

    def slow() -> int:
        calls.append(1)
        # hold the collection until every caller has got past the lock and found it running
        all_in = entered.wait_for_entries(8, timeout=5)
        return len(calls) if all_in else -1

    flight: SingleFlight[int] = SingleFlight(slow)
    flight._lock = entered  # type: ignore[assignment]
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(flight())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [1] * 8 and len(calls) == 1
    assert flight() == 2  # a later call runs a new collection


def test_single_flight_passes_errors_to_every_waiter() -> None:
    """An exception reaches the callers instead of hanging them."""

    def boom() -> int:
        raise ValueError("nope")

    flight: SingleFlight[int] = SingleFlight(boom)
    try:
        flight()
    except ValueError as exc:
        assert str(exc) == "nope"
    else:  # pragma: no cover
        raise AssertionError("no error")


class SlowSampler(Sampler):
    """A sampler whose temperatures take 200 ms, like a slow hwmon driver; reads are counted."""

    reads = 0

    def temperatures(self) -> tuple[Temperature, ...]:
        """Slow on purpose."""
        self.reads += 1
        time.sleep(0.2)
        return (Temperature("platform_coretemp_0", "temp1", 40.0 + self.reads),)


def test_slow_source_is_served_from_cache_with_its_age(procfs: Path, sysfs: Path) -> None:
    """Scrapes never read hwmon themselves: they get the last background read and its age."""
    sampler = SlowSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
    collection = Collection(sampler, slow_refresh_seconds=60)
    collection.refresh_temperatures()
    assert sampler.reads == 1
    snaps = [collection.snapshot() for _ in range(3)]
    assert sampler.reads == 1  # three scrapes, no hwmon read among them
    assert [s.temperatures[0].celsius for s in snaps] == [41.0] * 3
    status = _status(snaps[-1], "hwmon")
    assert status.success and status.age is not None and 0 <= status.age < 60
    assert status.duration >= 0.2  # the background read's own duration


def test_background_refresh_runs_and_stops(procfs: Path, sysfs: Path) -> None:
    """start() refreshes slow sources on its own thread; stop() ends it."""
    sampler = SlowSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
    collection = Collection(sampler, slow_refresh_seconds=0.05)
    collection.start()
    deadline = time.monotonic() + 5
    while sampler.reads < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    collection.stop()
    assert sampler.reads >= 2
    assert collection.snapshot().temperatures


def test_influx_snapshot_adds_telegraf_only_sources(
    tmp_path: Path, procfs: Path, sysfs: Path
) -> None:
    """Disk queues, swap activity and logins come with the InfluxDB snapshot only."""
    utmp = tmp_path / "utmp"
    utmp.write_bytes(b"")
    collection = Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil(), utmp=utmp))
    scrape = collection.snapshot()
    assert scrape.disk_queues == () and scrape.swap_activity is None and scrape.logins is None
    snap = collection.influx_snapshot()
    assert {q.device for q in snap.disk_queues} >= {"vda"}
    assert snap.swap_activity is not None and snap.swap_activity.swapped_in > 0
    assert snap.logins is not None and snap.logins.sessions == 3
    assert snap.memory is not None and len(snap.cpus) == 2


def test_a_failing_telegraf_only_source_leaves_only_itself_out(
    procfs: Path, sysfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No /proc/vmstat: swap activity is absent, logged once; the rest is there."""
    (procfs / "vmstat").unlink()
    collection = Collection(Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil()))
    with caplog.at_level(logging.WARNING):
        first = collection.influx_snapshot()
        collection.influx_snapshot()
    assert first.swap_activity is None and first.disk_queues and first.memory is not None
    assert caplog.text.count("collector vmstat failed") == 1
