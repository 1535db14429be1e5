"""The exporter's InfluxDB output against a real InfluxDB 1.x: shape, outage, spool limit."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter import schema
from exporter.collection import Collection
from exporter.config import InfluxConfig
from exporter.influx import InfluxWriter
from exporter.sampling import Sampler
from tests.harness.exporter import Exporter, spooled_times
from tests.harness.services import InfluxDB, wait_until

pytestmark = pytest.mark.integration

DB = "telegraf"
HOST = "testhost"




def test_influxdb_receives_telegraf_shaped_series(
    start_service: Callable[..., Any], influxdb: InfluxDB
) -> None:
    """InfluxQL finds Telegraf's measurements, tags and field types, host-tagged."""
    exp: Exporter = start_service(
        Exporter,
        hostname=HOST,
        influx={"enabled": True, "url": influxdb.url, "database": DB, "interval_seconds": 0.5},
    )
    wanted = {"cpu", "mem", "swap", "disk", "diskio", "net", "system", "kernel", "processes"}
    wait_until(lambda: wanted <= influxdb.measurements(DB), what=f"measurements {wanted}")

    tags = influxdb.series("SHOW TAG KEYS FROM cpu", DB)[0]["values"]
    assert {t[0] for t in tags} == {"cpu", "host"}
    query = (
        "SELECT usage_idle, usage_user, usage_system FROM cpu "  # noqa: S608 - constants
        f"WHERE cpu = 'cpu-total' AND host = '{HOST}'"
    )
    cpu = influxdb.series(query, DB)[0]["values"]
    assert cpu and all(0.0 <= v <= 100.0 for row in cpu for v in row[1:])
    fields = dict(influxdb.series("SHOW FIELD KEYS FROM mem", DB)[0]["values"])
    assert fields["total"] == "integer" and fields["used_percent"] == "float"
    assert {"available", "used", "free", "cached", "buffered", "available_percent"} <= set(fields)
    mem_total = influxdb.series("SELECT last(total) FROM mem", DB)[0]["values"][0][1]
    assert mem_total == exp.sample_value(schema.MEM_TOTAL)
    disk = influxdb.series("SHOW TAG KEYS FROM disk", DB)[0]["values"]
    assert {t[0] for t in disk} == {"device", "fstype", "host", "mode", "path"}
    root = influxdb.series("SELECT last(total) FROM disk WHERE path = '/'", DB)[0]["values"]
    assert root[0][1] == exp.sample_value(schema.FS_SIZE, mountpoint="/")
    assert {t[0] for t in influxdb.series("SHOW TAG KEYS FROM net", DB)[0]["values"]} == {
        "host", "interface",
    }  # fmt: skip
    assert {t[0] for t in influxdb.series("SHOW TAG KEYS FROM diskio", DB)[0]["values"]} == {
        "host", "name",
    }  # fmt: skip
    diskio_fields = dict(influxdb.series("SHOW FIELD KEYS FROM diskio", DB)[0]["values"])
    assert diskio_fields["weighted_io_time"] == diskio_fields["iops_in_progress"] == "integer"
    swap_fields = dict(influxdb.series("SHOW FIELD KEYS FROM swap", DB)[0]["values"])
    assert swap_fields["in"] == swap_fields["out"] == "integer"
    system_fields = dict(influxdb.series("SHOW FIELD KEYS FROM system", DB)[0]["values"])
    assert system_fields["uptime_format"] == "string" and system_fields["uptime"] == "integer"
    kernel_fields = dict(influxdb.series("SHOW FIELD KEYS FROM kernel", DB)[0]["values"])
    assert set(kernel_fields) == {"boot_time", "context_switches", "entropy_avail",
                                  "interrupts", "processes_forked"}  # fmt: skip
    procs = dict(influxdb.series("SHOW FIELD KEYS FROM processes", DB)[0]["values"])
    assert {"running", "sleeping", "blocked", "zombies", "total", "total_threads"} <= set(procs)
    assert set(procs.values()) == {"integer"}
    hosts = influxdb.series('SHOW TAG VALUES WITH KEY = "host"', DB)
    assert {row[1] for s in hosts for row in s["values"]} == {HOST}
    assert exp.sample_value(schema.INFLUX_POINTS_WRITTEN) > 0



def test_outage_and_restart_lose_nothing(
    start_service: Callable[..., Any], influxdb: InfluxDB
) -> None:
    """InfluxDB down, exporter restarted meanwhile: every point sampled in between arrives."""
    interval = 0.25
    influx = {
        "enabled": True, "url": influxdb.url, "database": DB, "interval_seconds": interval,
        "max_backoff_seconds": 0.5,
    }  # fmt: skip
    exp: Exporter = start_service(Exporter, hostname=HOST, influx=influx)
    spool_dir = Path(exp.settings["influx"]["spool_dir"])
    wait_until(lambda: "system" in influxdb.measurements(DB), what="first points")

    influxdb.stop()
    # three samples on disk: counted by timestamp, since a sample's point count grows with the
    # host's interfaces (other tests' container veths took 30 points to two samples)
    def three_spooled() -> bool:
        try:
            return len(spooled_times(spool_dir)) >= 3
        except ValueError:  # a line being appended as we read: look again
            return False

    wait_until(lambda: three_spooled()
               and (exp.sample_value(schema.INFLUX_POINTS_SPOOLED) or 0) > 30,
               what="spooling")  # fmt: skip
    assert (exp.sample_value(schema.INFLUX_WRITE_ERRORS) or 0) > 0
    exp.stop()  # restart the exporter during the outage too
    pending = spooled_times(spool_dir)
    assert len(pending) >= 3
    exp.start()
    time.sleep(1.0)  # keeps sampling into the same spool while InfluxDB is still down
    influxdb.start()
    wait_until(lambda: exp.sample_value(schema.INFLUX_POINTS_SPOOLED) == 0, what="spool to drain")

    query = f"SELECT load1 FROM system WHERE host = '{HOST}'"  # noqa: S608 - constants
    rows = influxdb.series(query, DB)[0]["values"]
    stored = {_ms(r[0]) for r in rows}
    assert pending <= stored, f"{len(pending - stored)} spooled points missing"
    # No hole while the exporter ran. A loaded machine stretches single intervals (the sampler
    # skips a beat when it falls behind), so gaps are not counted against the nominal 0.25 s:
    # none over 2 s but the restart's, and at least one sample per second of running on
    # average, counted against the wall time the samples span.
    times = sorted(stored)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    span = times[-1] - times[0]
    long_gaps = [g for g in gaps if g > 2000]
    assert len(long_gaps) <= 1, f"gaps over 2 s (only the restart may leave one): {long_gaps}"
    running_ms = span - sum(long_gaps)
    assert len(times) >= running_ms / 1000, (
        f"{len(times)} samples over {running_ms} ms of running: sampling stalled"
    )
    assert exp.sample_value(schema.INFLUX_POINTS_DROPPED) == 0


def _ms(rfc3339: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def test_spool_limit_drop_counter_matches_what_is_missing(
    influxdb: InfluxDB, tmp_path: Path
) -> None:
    """With InfluxDB down and a 64 KiB spool, dropped + stored == sampled, exactly."""
    collection = Collection(Sampler())
    real = collection.snapshot()
    t0 = time.time() - 3600
    count = iter(range(1_000_000))
    cfg = InfluxConfig(
        enabled=True, url=influxdb.url, database=DB, spool_dir=str(tmp_path / "spool"),
        spool_max_bytes=64 * 1024, batch_size=200,
    )  # fmt: skip
    writer = InfluxWriter(
        cfg, HOST, lambda: dataclasses.replace(real, time=t0 + next(count))
    )
    influxdb.stop()
    sampled = sum(writer.sample_once() for _ in range(150))
    stats = writer.stats()
    dropped = stats[schema.INFLUX_POINTS_DROPPED]
    assert dropped > 0 and stats[schema.INFLUX_SPOOL_BYTES] <= 64 * 1024
    assert stats[schema.INFLUX_POINTS_SPOOLED] == sampled - dropped

    influxdb.start()
    deadline = time.monotonic() + 60
    while writer.spool.points():
        assert time.monotonic() < deadline, (
            f"the spool did not drain within 60 s of InfluxDB's restart: "
            f"{writer.spool.points()} points left, stats {writer.stats()}"
        )
        outcome = writer.deliver_once()
        if outcome.retry_in:
            time.sleep(min(outcome.retry_in, 0.5))
    stored = 0
    measurements = ("cpu", "mem", "swap", "disk", "diskio", "net", "system", "temp", "kernel")
    for measurement in measurements:
        for s in influxdb.series(f"SELECT * FROM {measurement}", DB):  # noqa: S608
            stored += len(s["values"])
    assert writer.stats()[schema.INFLUX_POINTS_DROPPED] == dropped
    assert stored + dropped == sampled
    assert writer.stats()[schema.INFLUX_POINTS_WRITTEN] == stored


def test_one_bad_line_loses_only_that_point(influxdb: InfluxDB, tmp_path: Path) -> None:
    """A batch holding one unparsable line (a torn spool line from an older version): InfluxDB
    1.x stores the others and says which it refused; only that point counts as dropped."""
    db = "partialwrite"
    cfg = InfluxConfig(
        enabled=True, url=influxdb.url, database=db, spool_dir=str(tmp_path / "spool")
    )
    writer = InfluxWriter(cfg, HOST, lambda: None)  # type: ignore[arg-type,return-value]
    t0 = int(time.time() * 1000) - 60_000
    good = [f"system,host={HOST} load1={i}.5 {t0 + i}" for i in range(20)]
    torn = f"system,host={HOST} load1=3.5 {t0 + 99}"[:25] + good[0][:10]  # glued halves
    writer.spool.append([*good[:7], torn, *good[7:]])
    outcome = writer.deliver_once()  # one request: InfluxDB stores the rest, names the torn one
    assert (outcome.delivered, outcome.dropped) == (len(good), 1), outcome
    assert writer.spool.points() == 0
    rows = influxdb.series(f"SELECT count(load1) FROM system WHERE host = '{HOST}'", db)  # noqa: S608
    assert rows[0]["values"][0][1] == len(good)
    stats = writer.stats()
    assert stats[schema.INFLUX_POINTS_WRITTEN] == len(good)
    assert stats[schema.INFLUX_POINTS_DROPPED] == 1


def test_field_type_conflict_drops_exactly_the_conflicting_points(
    influxdb: InfluxDB, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mem.used stored as an integer, then points with used=1.5: InfluxDB 1.x stores the
    others and answers "field type conflict ... dropped=2"; the writer counts exactly those 2
    as dropped, the rest as written, and logs InfluxDB's reason."""
    db = "typeconflict"
    influxdb.create_database(db)
    t0 = int(time.time() * 1000) - 60_000
    influxdb.write(db, f"mem,host={HOST} used=1i {t0 - 1}", precision="ms")
    cfg = InfluxConfig(
        enabled=True, url=influxdb.url, database=db, spool_dir=str(tmp_path / "spool")
    )
    writer = InfluxWriter(cfg, HOST, lambda: None)  # type: ignore[arg-type,return-value]
    good = [f"system,host={HOST} load1={i}.5 {t0 + i}" for i in range(10)]
    conflicting = [f"mem,host={HOST} used=1.5 {t0 + 100 + i}" for i in range(2)]
    writer.spool.append([*good[:4], conflicting[0], *good[4:8], conflicting[1], *good[8:]])
    with caplog.at_level(logging.ERROR, logger="exporter"):
        outcome = writer.deliver_once()
    assert (outcome.delivered, outcome.dropped) == (len(good), 2), outcome
    assert writer.spool.points() == 0
    stats = writer.stats()
    assert stats[schema.INFLUX_POINTS_WRITTEN] == len(good)
    assert stats[schema.INFLUX_POINTS_DROPPED] == 2
    assert "rejected 2 of 12 points with 400" in caplog.text
    assert "field type conflict" in caplog.text and "dropped=2" in caplog.text
    system = influxdb.series(f"SELECT count(load1) FROM system WHERE host = '{HOST}'", db)  # noqa: S608
    assert system[0]["values"][0][1] == len(good)
    mem = influxdb.series("SELECT used FROM mem", db)[0]["values"]
    assert [row[1] for row in mem] == [1]  # only the integer written before
