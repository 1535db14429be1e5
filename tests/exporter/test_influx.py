"""InfluxDB output: Telegraf-shaped line protocol, and the v2 API's answers (through `responses`).

No InfluxDB 2 or 3 server can run on these machines, so the v2 write endpoint is simulated with
`responses`, which intercepts `requests`; the writer's transport is a constructor argument and
these tests give it a requests-based one. The default http.client transport is exercised against
a real InfluxDB 1.x in tests/integration/test_exporter_influx.py.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import itertools
import json
import logging
import re
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from exporter import schema
from exporter.collection import Snapshot
from exporter.config import InfluxConfig
from exporter.influx import (
    GROW_AFTER,
    PAUSED_LOG_EVERY,
    PAUSED_RETRY_SECONDS,
    InfluxWriter,
    Response,
    format_uptime,
    line,
    parse_rejection,
    retry_after_seconds,
    to_lines,
)
from exporter.sampling import (
    CpuTimes,
    DiskIO,
    DiskQueue,
    FsUsage,
    KernelStats,
    Logins,
    MemInfo,
    NetIO,
    SwapActivity,
    Temperature,
    parse_meminfo,
    parse_mounts,
)
from tests.exporter.conftest import FIXTURES

V2_URL = "http://influx.test:8086/api/v2/write"


class RequestsTransport:
    """The writer's Transport over requests, so that `responses` can answer it."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        """POST with requests; connection errors become OSError like http.client's."""
        try:
            r = self.session.post(url, data=body, headers=headers, timeout=timeout)
        except requests.ConnectionError as exc:
            raise OSError(str(exc)) from exc
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.text)


def _cpu(user: float, idle: float, cpu: str = "0") -> CpuTimes:
    return CpuTimes(cpu, user, 0.0, 10.0, idle, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


MEM = MemInfo(
    {
        "MemTotal": 1000,
        "MemFree": 200,
        "MemAvailable": 600,
        "Buffers": 50,
        "Cached": 100,
        "SReclaimable": 50,
        "SwapTotal": 400,
        "SwapFree": 100,
        "Active": 300,
    }
)
SNAP = Snapshot(
    time=1_700_000_000.5,
    cpus=(_cpu(110.0, 880.0), _cpu(60.0, 930.0, "1")),
    memory=MEM,
    kernel=KernelStats(1_699_990_000.0, 1, 2, 3, 4, 5),
    load=(0.5, 0.25, 0.125),
    filesystems=(FsUsage(parse_mounts("/dev/sda1 / ext4 rw 0 0")[0], 1000, 300, 200, 100, 40),),
    disks=(DiskIO("sda", 1, 2, 512, 1024, 3, 4, 5, 6, 7),),
    network=(
        NetIO("eth0", 10, 20, 1, 2, 0, 0, 0, 0, True),
        NetIO("lo", 5, 5, 1, 1, 0, 0, 0, 0, False),
    ),
    temperatures=(Temperature("platform_coretemp_0", "temp1", 45.0, "coretemp", "Core 0"),),
)
PREV = Snapshot(time=1_699_999_990.5, cpus=(_cpu(100.0, 800.0), _cpu(50.0, 900.0, "1")))


_FIELD = re.compile(r'([^,=]+)=("(?:[^"\\]|\\.)*"|[^,]+)(?:,|$)')


def _points(lines: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    """measurement,sorted-tags -> fields (as written), parsed from line protocol."""
    out = {}
    for ln in lines:
        key, rest = ln.split(" ", 1)  # no escaped spaces in these tags
        fields, ts = rest.rsplit(" ", 1)
        measurement, _, tags = key.partition(",")
        parsed = {m.group(1): m.group(2) for m in _FIELD.finditer(fields)}
        assert ",".join(f"{k}={v}" for k, v in parsed.items()) == fields, ln
        out[(measurement, tags)] = parsed | {"_ts": ts}
    return out


def test_telegraf_measurements_fields_and_tags() -> None:
    """cpu, mem, swap, disk, diskio, net, system and temp, each with a host tag."""
    lines = to_lines(SNAP, PREV, "nas")
    assert all(",host=nas" in ln for ln in lines)
    p = _points(lines)
    total = p[("cpu", "cpu=cpu-total,host=nas")]
    # 20 s of user and 110 s of idle out of 130 s: 15.38 % user, 84.6 % idle
    assert float(total["usage_user"]) == pytest.approx(100 * 20 / 130)
    assert float(total["usage_idle"]) == pytest.approx(100 * 110 / 130)
    assert ("cpu", "cpu=cpu0,host=nas") in p and ("cpu", "cpu=cpu1,host=nas") in p
    mem = p[("mem", "host=nas")]
    assert mem["total"] == "1000i" and mem["available"] == "600i"
    assert mem["used"] == "600i"  # total - free - buffers - (cached + sreclaimable)
    assert float(mem["used_percent"]) == 60.0 and float(mem["available_percent"]) == 60.0
    swap = p[("swap", "host=nas")]
    assert (swap["total"], swap["used"], swap["free"]) == ("400i", "300i", "100i")
    disk = p[("disk", "device=sda1,fstype=ext4,host=nas,mode=rw,path=/")]
    assert (disk["total"], disk["free"], disk["used"]) == ("1000i", "200i", "700i")
    assert disk["inodes_used"] == "60i"
    diskio = p[("diskio", "host=nas,name=sda")]
    assert (diskio["read_bytes"], diskio["write_time"], diskio["io_time"]) == ("512i", "4i", "7i")
    net = p[("net", "host=nas,interface=eth0")]
    assert (net["bytes_recv"], net["bytes_sent"]) == ("10i", "20i")
    assert ("net", "host=nas,interface=lo") not in p  # Telegraf leaves loopback out
    system = p[("system", "host=nas")]
    assert system["load1"] == "0.5" and system["n_cpus"] == "2i" and system["uptime"] == "10000i"
    temp = p[("temp", "host=nas,sensor=coretemp_core0_input")]
    assert temp["temp"] == "45.0"
    assert {v["_ts"] for v in p.values()} == {"1700000000500"}


# Telegraf's mem plugin on Linux (plugins/inputs/mem/README.md): every one, always written.
TELEGRAF_MEM_LINUX = {
    "active", "available", "available_percent", "buffered", "cached", "commit_limit",
    "committed_as", "dirty", "free", "high_free", "high_total", "huge_pages_free",
    "huge_page_size", "huge_pages_total", "inactive", "low_free", "low_total", "mapped",
    "page_tables", "shared", "slab", "sreclaimable", "sunreclaim", "swap_cached", "swap_free",
    "swap_total", "total", "used", "used_percent", "vmalloc_chunk", "vmalloc_total",
    "vmalloc_used", "write_back", "write_back_tmp",
}  # fmt: skip


def test_mem_has_telegrafs_whole_linux_field_set() -> None:
    """Captured meminfo: Telegraf's Linux fields exactly, from the right keys, 0 where absent."""
    meminfo = parse_meminfo((FIXTURES / "proc" / "meminfo").read_text())
    snap = dataclasses.replace(SNAP, memory=meminfo)
    mem = _points(to_lines(snap, None, "nas"))[("mem", "host=nas")]
    assert set(mem) - {"_ts"} == TELEGRAF_MEM_LINUX
    kb = {k: v // 1024 for k, v in meminfo.values.items()}
    assert mem["buffered"] == f"{meminfo.get('Buffers')}i"
    assert mem["shared"] == f"{meminfo.get('Shmem')}i" and kb["Shmem"] > 0
    assert mem["committed_as"] == f"{meminfo.get('Committed_AS')}i"
    assert mem["write_back"] == f"{meminfo.get('Writeback')}i"
    assert mem["huge_page_size"] == f"{meminfo.get('Hugepagesize')}i"
    assert mem["huge_pages_total"] == f"{meminfo.get('HugePages_Total')}i"
    assert mem["vmalloc_total"] == f"{meminfo.get('VmallocTotal')}i"
    assert "HighTotal" not in meminfo.values and mem["high_total"] == "0i"  # 64-bit kernel
    cached = meminfo.get("Cached") + meminfo.get("SReclaimable")
    assert mem["cached"] == f"{cached}i"


def test_mem_available_without_memavailable_is_cached_plus_free() -> None:
    """Kernels before 3.14 have no MemAvailable: gopsutil's fallback, cached + free."""
    values = {k: v for k, v in MEM.values.items() if k != "MemAvailable"}
    snap = dataclasses.replace(SNAP, memory=MemInfo(values))
    mem = _points(to_lines(snap, None, "nas"))[("mem", "host=nas")]
    assert mem["available"] == f"{100 + 50 + 200}i"  # Cached + SReclaimable + MemFree


def test_telegraf_only_fields_swap_in_out_disk_queues_and_users() -> None:
    """swap in/out, diskio weighted_io_time/iops_in_progress, system n_users and uptime_format."""
    snap = dataclasses.replace(
        SNAP,
        disk_queues=(DiskQueue("sda", 2, 345), DiskQueue("loop0", 0, 0)),
        swap_activity=SwapActivity(4096, 8192),
        logins=Logins(3, 2),
    )
    p = _points(to_lines(snap, None, "nas"))
    swap = p[("swap", "host=nas")]
    assert (swap["in"], swap["out"]) == ("4096i", "8192i")
    diskio = p[("diskio", "host=nas,name=sda")]
    assert (diskio["weighted_io_time"], diskio["iops_in_progress"]) == ("345i", "2i")
    assert ("diskio", "host=nas,name=loop0") not in p  # excluded devices stay excluded
    system = p[("system", "host=nas")]
    assert (system["n_users"], system["n_unique_users"]) == ("3i", "2i")
    assert system["uptime_format"] == '" 2:46"'  # 10000 s
    plain = _points(to_lines(SNAP, None, "nas"))  # sources not read: fields left out
    assert "in" not in plain[("swap", "host=nas")]
    assert "n_users" not in plain[("system", "host=nas")]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (59, " 0:00"),
        (3 * 3600 + 5 * 60, " 3:05"),
        (86400, "1 day,  0:00"),
        (14 * 86400 + 11 * 3600 + 7 * 60 + 12, "14 days, 11:07"),
    ],
)
def test_uptime_format_is_telegrafs(seconds: int, text: str) -> None:
    """Go's "%d day%s, " then "%2d:%02d", as Telegraf's system plugin formats it."""
    assert format_uptime(seconds) == text


def test_first_sample_has_no_cpu_usage() -> None:
    """Usage needs two samples: the first interval writes everything but cpu."""
    assert not any(ln.startswith("cpu,") for ln in to_lines(SNAP, None, "nas"))


def test_line_protocol_escaping() -> None:
    """Spaces, commas and equals signs in tags are escaped; strings are quoted."""
    ln = line("disk", {"path": "/mnt/my disk,1", "host": "a=b", "empty": ""}, {"s": 'x"y'}, 5)
    assert ln == 'disk,host=a\\=b,path=/mnt/my\\ disk\\,1 s="x\\"y" 5'


def test_retry_after_forms() -> None:
    """Seconds and HTTP dates; garbage is ignored."""
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def _writer(tmp_path: Path, **overrides: object) -> InfluxWriter:
    cfg = InfluxConfig(
        enabled=True, url="http://influx.test:8086", api="v2", org="home", bucket="metrics",
        token="s3cret-token", spool_dir=str(tmp_path / "spool"), **overrides,  # type: ignore[arg-type]
    )  # fmt: skip
    w = InfluxWriter(cfg, "nas", lambda: SNAP, transport=RequestsTransport())
    w.sample_once()
    return w


V2_MATCH = [
    matchers.query_param_matcher({"org": "home", "bucket": "metrics", "precision": "ms"}),
    matchers.header_matcher({"Authorization": "Token s3cret-token", "Content-Encoding": "gzip"}),
]


@responses.activate
def test_v2_204_writes_gzipped_batch_with_token(tmp_path: Path) -> None:
    """A 204 empties the spool; the body is gzipped line protocol; org, bucket, token are sent."""
    responses.add(responses.POST, V2_URL, status=204, match=V2_MATCH)
    w = _writer(tmp_path)
    spooled = w.spool.points()
    outcome = w.deliver_once()
    assert outcome.delivered == spooled and w.spool.points() == 0
    body = gzip.decompress(responses.calls[0].request.body).decode()
    assert body.splitlines() == to_lines(SNAP, None, "nas")
    assert w.stats()[schema.INFLUX_POINTS_WRITTEN] == spooled


def _drain(w: InfluxWriter, limit: int = 500) -> tuple[int, int]:
    """Deliver until the spool is empty; returns (delivered, dropped) as the outcomes said."""
    delivered = dropped = 0
    for _ in range(limit):
        if not w.spool.points():
            break
        outcome = w.deliver_once()
        delivered += outcome.delivered
        dropped += outcome.dropped
    assert not w.spool.points(), "the spool did not drain"
    return delivered, dropped


@responses.activate
def test_v2_400_naming_no_point_is_split_until_every_refused_point_is_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server refusing every point without naming one: the batch is halved down to single
    points, each dropped once, logged with InfluxDB's message and counted exactly."""
    responses.add(
        responses.POST, V2_URL, status=400,
        json={"code": "invalid", "message": "unable to parse 'mem x': missing fields"},
    )  # fmt: skip
    w = _writer(tmp_path)
    n = w.spool.points()
    with caplog.at_level(logging.ERROR):
        delivered, dropped = _drain(w)
    assert (delivered, dropped) == (0, n)
    assert "missing fields" in caplog.text
    assert w.stats()[schema.INFLUX_POINTS_DROPPED] == n
    assert w.stats()[schema.INFLUX_POINTS_WRITTEN] == 0


BAD = b"mem,host=nas used=oops"  # a field value that is no number, string or bool


def _with_bad_point(w: InfluxWriter, at: int) -> list[bytes]:
    """Put BAD among the spooled points at index `at`; returns the good ones."""
    batch = w.spool.oldest()
    assert batch is not None
    w.spool.release(batch.seq)
    w.spool.replace(batch.seq, [*batch.lines[:at], BAD, *batch.lines[at:]])
    return batch.lines


def _body(request: requests.PreparedRequest) -> list[bytes]:
    return gzip.decompress(request.body).splitlines()  # type: ignore[arg-type]


@responses.activate
def test_v2_400_naming_the_bad_point_drops_only_it_and_sends_the_rest(tmp_path: Path) -> None:
    """InfluxDB 2 refuses the whole request and names the line: only that point is dropped;
    the others go out again and are written."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        if BAD in _body(request):
            msg = f"unable to parse '{BAD.decode()}': invalid boolean"
            return 400, {}, json.dumps({"code": "invalid", "message": msg})
        return 204, {}, ""

    responses.add_callback(responses.POST, V2_URL, callback=answer)
    w = _writer(tmp_path)
    good = _with_bad_point(w, 3)
    delivered, dropped = _drain(w)
    assert (delivered, dropped) == (len(good), 1)
    assert _body(responses.calls[-1].request) == good
    assert len(responses.calls) == 2
    stats = w.stats()
    assert stats[schema.INFLUX_POINTS_WRITTEN] == len(good)
    assert stats[schema.INFLUX_POINTS_DROPPED] == 1


@pytest.mark.parametrize("at", [0, 5, -1])
@responses.activate
def test_v2_400_without_names_is_bisected_to_the_one_bad_point(tmp_path: Path, at: int) -> None:
    """Refused whole with a message naming nothing: halves are sent until the bad point is
    alone; every good point is written once and only the bad one is dropped."""
    seen: list[bytes] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        lines = _body(request)
        if BAD in lines:
            return 400, {}, json.dumps({"code": "invalid", "message": "bad request"})
        seen.extend(lines)
        return 204, {}, ""

    responses.add_callback(responses.POST, V2_URL, callback=answer)
    w = _writer(tmp_path)
    good = _with_bad_point(w, at if at >= 0 else w.spool.points())
    delivered, dropped = _drain(w)
    assert (delivered, dropped) == (len(good), 1)
    assert seen == good  # in order, none twice
    assert w.stats()[schema.INFLUX_POINTS_DROPPED] == 1
    assert len(responses.calls) <= 2 * len(good).bit_length() + 2
    assert w._probe is None  # the search is over: full-size requests again


@responses.activate
def test_v3_partial_write_counts_the_line_numbers_it_lists_as_dropped(tmp_path: Path) -> None:
    """A 3.x list of refused line numbers: those dropped, the rest written, in one request.

    InfluxDB 1.x's own partial writes ("unable to parse", "dropped=N" for a field type
    conflict) come from a real server in tests/integration/test_exporter_influx.py.
    """
    body = {
        "error": "partial write of line protocol occurred",
        "data": [{"original_line": "x", "line_number": 1, "error_message": "bad"},
                 {"original_line": "y", "line_number": 4, "error_message": "bad"}],
    }  # fmt: skip
    responses.add(responses.POST, V2_URL, status=400, json=body)
    w = _writer(tmp_path)
    n = w.spool.points()
    assert _drain(w) == (n - 2, 2) and len(responses.calls) == 1
    assert w.stats()[schema.INFLUX_POINTS_WRITTEN] == n - 2
    assert w.stats()[schema.INFLUX_POINTS_DROPPED] == 2


def test_parse_rejection_reads_each_servers_format() -> None:
    """Bad lines are found by their quoted text (JSON-unescaped) or by 3.x line numbers."""
    lines = [b"a v=1", b'b,t=x s="q\\"uote"', b"c v=3"]
    quoted = json.dumps({"error": f"unable to parse '{lines[1].decode()}': x"})
    assert '\\"' in quoted  # the line is escaped in the JSON body, matched once unescaped
    one_x = parse_rejection(lines, quoted)
    assert one_x.bad == {1} and not one_x.partial and one_x.unnamed == 0
    assert parse_rejection(lines, "plain text, no JSON").bad == frozenset()
    three_x = parse_rejection(
        lines,
        json.dumps(
            {"error": "partial write of line protocol occurred", "data": [{"line_number": 3}]}
        ),
    )
    assert three_x.bad == {2} and three_x.partial


@responses.activate
def test_points_the_spool_could_not_take_count_as_dropped(tmp_path: Path) -> None:
    """A full disk at sampling time: the sample's points are not spooled and count as dropped."""
    w = _writer(tmp_path)
    before = w.spool.points()

    def full(fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    w.spool._write = full
    assert w.sample_once() == 0
    assert w.spool.points() == before
    assert w.stats()[schema.INFLUX_POINTS_DROPPED] == w.spool.lost > 0


@pytest.mark.parametrize("status", [401, 403, 404])
@responses.activate
def test_v2_refusals_stop_retrying_after_five_attempts_and_keep_the_points(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """401 (token), 403 (rights), 404 (bucket): 5 attempts, then a 5-minute pause; none dropped."""
    responses.add(responses.POST, V2_URL, status=status, json={"message": f"problem {status}"})
    w = _writer(tmp_path)
    n = w.spool.points()
    with caplog.at_level(logging.ERROR):
        outcomes = [w.deliver_once() for _ in range(5)]
    assert all(0 < o.retry_in <= 60 for o in outcomes[:4])
    assert outcomes[4].retry_in == PAUSED_RETRY_SECONDS and outcomes[4].dropped == 0
    assert len(responses.calls) == 5 and w.spool.points() == n
    assert f"problem {status}" in caplog.text and "stopped retrying" in caplog.text
    assert "s3cret-token" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        for _ in range(2 * PAUSED_LOG_EVERY):  # two hours of checks: the error twice
            assert w.deliver_once().retry_in == PAUSED_RETRY_SECONDS
    assert caplog.text.count("still refuses") == 2 and w.spool.points() == n
    stats = w.stats()
    assert stats[schema.INFLUX_WRITE_ERRORS] == 5 + 2 * PAUSED_LOG_EVERY
    assert stats[schema.INFLUX_POINTS_DROPPED] == 0


@responses.activate
def test_v2_a_paused_writer_resumes_when_the_server_accepts(tmp_path: Path) -> None:
    """After the pause, one attempt that succeeds sends every kept point."""
    responses.add(responses.POST, V2_URL, status=401, json={"message": "unauthorized"})
    w = _writer(tmp_path)
    n = w.spool.points()
    for _ in range(5):
        w.deliver_once()
    responses.replace(responses.POST, V2_URL, status=204)
    assert w.deliver_once().delivered == n and w.spool.points() == 0
    assert w.stats()[schema.INFLUX_POINTS_WRITTEN] == n


@responses.activate
def test_v2_422_is_a_data_error_and_dropped(tmp_path: Path) -> None:
    """422 (points beyond retention) refuses the data itself: dropped once, not retried."""
    n = _writer(tmp_path / "count").spool.points()
    msg = (
        "failure writing points to database: partial write: points beyond retention policy "
        f"dropped={n}"
    )
    responses.add(
        responses.POST, V2_URL, status=422, json={"code": "unprocessable entity", "message": msg}
    )
    w = _writer(tmp_path)
    assert w.deliver_once().dropped == n and len(responses.calls) == 1
    assert w.stats()[schema.INFLUX_POINTS_WRITTEN] == 0


@responses.activate
def test_v2_413_halves_the_request_until_it_fits(tmp_path: Path) -> None:
    """Too large: the same points go out in smaller requests, none lost."""
    responses.add(responses.POST, V2_URL, status=413, json={"message": "too large"})
    responses.add(responses.POST, V2_URL, status=204)
    w = _writer(tmp_path)
    n = w.spool.points()
    delivered = 0
    for _ in range(10):
        delivered += w.deliver_once().delivered
        if not w.spool.points():
            break
    assert delivered == n
    sizes = [len(gzip.decompress(c.request.body).splitlines()) for c in responses.calls]
    assert sizes[0] == n and sizes[1] == n // 2 and sum(sizes[1:]) == n


@responses.activate
def test_v2_413_size_grows_back_once_larger_requests_are_accepted(tmp_path: Path) -> None:
    """A 413 halves the request only for a while: once the server takes the smaller requests
    (its limit lifted), the size grows back gradually to batch_size, no point lost or doubled."""
    limit = {"lines": 16}
    received: list[bytes] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        lines = gzip.decompress(request.body).splitlines()  # type: ignore[arg-type]
        if len(lines) > limit["lines"]:
            return 413, {}, '{"message":"request entity too large"}'
        received.extend(lines)
        return 204, {}, ""

    responses.add_callback(responses.POST, V2_URL, callback=answer)
    w = _writer(tmp_path, batch_size=64)
    appended = w.spool.points()
    assert w.deliver_once().delivered == appended  # the sample _writer spooled: small
    for i in range(200):
        w.spool.append([f"m,host=nas v={i * 64 + j}i {i}" for j in range(64)])
        appended += 64

    def sizes_of_next(n: int) -> list[int]:
        start = len(responses.calls)
        for _ in range(n):
            w.deliver_once()
        return [
            len(gzip.decompress(c.request.body).splitlines())  # type: ignore[arg-type]
            for c in list(responses.calls)[start:]
        ]

    assert sizes_of_next(5) == [64, 32, 16, 16, 16]  # two 413s: halved twice
    limit["lines"] = 10_000  # the proxy's limit was raised
    before = len(responses.calls)
    sizes = sizes_of_next(GROW_AFTER * 15)
    assert all(c.response.status_code == 204 for c in list(responses.calls)[before:])
    assert sizes[0] == 16 and sizes[-1] == 64, sizes
    steps = sorted(set(itertools.accumulate(sizes, max)))  # the request size allowed over time
    assert steps[0] == 16 and steps[-1] == 64
    assert len(steps) > 3 and all(b <= a + a // 4 for a, b in itertools.pairwise(steps))
    while w.spool.points():
        assert w.deliver_once().delivered > 0
    assert len(received) == len(set(received)) == appended == w.written


@responses.activate
def test_v2_429_waits_as_long_as_retry_after_says(tmp_path: Path) -> None:
    """Rate limited: the next attempt is Retry-After seconds away; the points stay spooled."""
    responses.add(responses.POST, V2_URL, status=429, headers={"Retry-After": "7"})
    responses.add(responses.POST, V2_URL, status=204)
    w = _writer(tmp_path)
    n = w.spool.points()
    assert w.deliver_once().retry_in == 7.0 and w.spool.points() == n
    assert w.deliver_once().delivered == n


@responses.activate
def test_v2_503_backs_off_exponentially_and_keeps_points(tmp_path: Path) -> None:
    """Server errors are retried for as long as it takes, with growing waits."""
    responses.add(responses.POST, V2_URL, status=503, body="unavailable")
    w = _writer(tmp_path, max_backoff_seconds=4.0)
    waits = [w.deliver_once().retry_in for _ in range(6)]
    assert waits[1] > waits[0] and waits[2] > waits[1]
    assert max(waits) <= 4.0 and waits[-1] >= 0.8 * 4.0
    assert w.spool.points() > 0 and w.stats()[schema.INFLUX_POINTS_DROPPED] == 0


def test_unreachable_server_backs_off(tmp_path: Path) -> None:
    """Connection refused: an error is counted and the points wait."""
    cfg = InfluxConfig(enabled=True, url="http://127.0.0.1:9", spool_dir=str(tmp_path))
    w = InfluxWriter(cfg, "nas", lambda: SNAP)
    w._database_ok = True
    w.sample_once()
    assert w.deliver_once().retry_in > 0 and w.stats()[schema.INFLUX_WRITE_ERRORS] == 1
    assert w.spool.points() > 0


def test_v1_url_carries_database_and_rp_credentials_go_in_a_header(tmp_path: Path) -> None:
    """The 1.x endpoint is /write?db=&rp= (ms precision); user and password are Basic auth."""
    cfg = InfluxConfig(
        enabled=True, url="http://h:8086", database="tg", retention_policy="weekly",
        username="u", password="pw", spool_dir=str(tmp_path),
    )  # fmt: skip
    w = InfluxWriter(cfg, "nas", lambda: SNAP)
    assert w._write_url == "http://h:8086/write?db=tg&precision=ms&rp=weekly"
    assert w._headers["Authorization"] == "Basic dTpwdw=="  # u:pw


def test_net_has_the_interfaces_that_are_up_and_not_loopback() -> None:
    """As Telegraf's net plugin: an interface set down (no IFF_UP) and loopback are left
    out; one that is up without carrier (operstate down) is kept."""
    nics = (
        NetIO("eth0", 10, 20, 1, 2, 0, 0, 0, 0, True),
        NetIO("eth1", 0, 0, 0, 0, 0, 0, 0, 0, False),  # up, cable unplugged
        NetIO("wg0", 0, 0, 0, 0, 0, 0, 0, 0, False),  # `ip link set wg0 down`
        NetIO("lo", 5, 5, 1, 1, 0, 0, 0, 0, False),
        NetIO("veth9", 1, 1, 1, 1, 0, 0, 0, 0, True),  # gone before the flags were read
    )
    flags = {"eth0": 0x1003, "eth1": 0x1003, "wg0": 0x90, "lo": 0x9}
    snap = dataclasses.replace(SNAP, network=nics, interface_flags=flags)
    names = {k[1] for k in _points(to_lines(snap, None, "nas")) if k[0] == "net"}
    assert names == {"host=nas,interface=eth0", "host=nas,interface=eth1"}
    unread = dataclasses.replace(SNAP, network=nics, interface_flags=None)
    names = {k[1] for k in _points(to_lines(unread, None, "nas")) if k[0] == "net"}
    assert "host=nas,interface=lo" not in names and len(names) == 4


@responses.activate
def test_a_batch_refused_line_by_line_leaves_no_empty_segment(tmp_path: Path) -> None:
    """Every point named as unparsable (InfluxDB 1.x when none parses): all dropped once, the
    segment removed, and no empty request is sent afterwards."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        named = "\n".join(f"unable to parse '{ln.decode()}': bad" for ln in _body(request))
        return 400, {}, json.dumps({"error": named})

    responses.add_callback(responses.POST, V2_URL, callback=answer)
    w = _writer(tmp_path)
    n = w.spool.points()
    assert w.deliver_once().dropped == n
    assert w.spool.points() == 0 and w.spool.oldest() is None
    assert len(responses.calls) == 1 and w.stats()[schema.INFLUX_POINTS_DROPPED] == n


def test_kernel_and_processes_points_have_telegrafs_default_config_fields() -> None:
    """`kernel` (boot_time, context_switches, entropy_avail, interrupts, processes_forked) and
    `processes` (states, total, total_threads) as Telegraf's default inputs write them."""
    from exporter.kernelstats import Entropy, ProcessStates

    states = {"blocked": 1, "zombies": 0, "stopped": 0, "running": 2, "sleeping": 90,
              "unknown": 0, "dead": 0, "paging": 0, "idle": 7}  # fmt: skip
    snap = Snapshot(
        time=1_700_000_000.0,
        kernel=KernelStats(1_699_000_000.0, 500, 900, 40, 2, 1),
        entropy=Entropy(256, 256),
        processes=ProcessStates(states, 100, 250),
    )
    lines = to_lines(snap, None, "nas")
    assert (
        "kernel,host=nas boot_time=1699000000i,context_switches=500i,interrupts=900i,"
        "processes_forked=40i,entropy_avail=256i 1700000000000"
    ) in lines
    (procs,) = [ln for ln in lines if ln.startswith("processes,")]
    assert "running=2i" in procs and "total=100i" in procs and "total_threads=250i" in procs
    assert "idle=7i" in procs and "zombies=0i" in procs
