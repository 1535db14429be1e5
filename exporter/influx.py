"""Snapshots as InfluxDB line protocol in Telegraf's schema, and the durable writer.

Measurements, fields and tags are Telegraf's (`cpu`, `mem`, `swap`, `disk`, `diskio`, `net`,
`system`, `temp`), with a `host` tag on every point, so community InfluxDB dashboards work.
The writer samples every `interval_seconds` into the on-disk spool, and a second thread sends
the spool oldest first through the v1 (`/write?db=&rp=`) or v2 (`/api/v2/write`) API, gzipped,
retrying with exponential backoff that honours Retry-After.

The HTTP client is http.client, not influxdb-client: importing influxdb-client costs about
30 MB of resident memory (and `requests` 8 MB), while a write is one POST. The transport is a
constructor argument, so tests can drive the writer through `responses`.

Example::

    writer = InfluxWriter(config.influx, "host1", collection.influx_snapshot)
    writer.start()
    ...
    writer.stop()
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import logging
import random
import re
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from exporter import schema
from exporter.collection import Snapshot
from exporter.config import InfluxConfig
from exporter.sampling import IFF_LOOPBACK, IFF_UP, CpuTimes
from exporter.spool import Batch, Spool

log = logging.getLogger(__name__)

GIVE_UP_ATTEMPTS = 5  # refusals in a row (401, 403, 404, ...) before the writer stops retrying
# Then one attempt per 5 minutes, in case the server was fixed: rare enough not to hammer it,
# and frequent enough that ExporterInfluxWritesFailing (write errors over 10 m) stays firing.
PAUSED_RETRY_SECONDS = 300.0
PAUSED_LOG_EVERY = 12  # while paused, repeat the error once an hour
MAX_RETRY_AFTER = 3600.0
DATA_ERRORS = (400, 413, 422)  # the points themselves are refused: sending them again fails again
# After a 413 halved the request size, it grows back by a quarter after this many accepted
# requests of the reduced size in a row, up to batch_size: a limit that was lifted (a proxy's
# body size, fixed) is left behind, and one still in force costs one 413 per few dozen writes.
GROW_AFTER = 10


# -- line protocol ------------------------------------------------------------------------


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _field_value(value: float | int | str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, float | int | str | bool],
    ts_ms: int,
) -> str:
    """One point of line protocol (millisecond precision); empty tag values are left out."""
    tag_text = "".join(f",{_tag(k)}={_tag(v)}" for k, v in sorted(tags.items()) if v)
    field_text = ",".join(f"{_tag(k)}={_field_value(v)}" for k, v in fields.items())
    return f"{_tag(measurement)}{tag_text} {field_text} {ts_ms}"


def _cpu_fields(now: CpuTimes, last: CpuTimes) -> dict[str, float | int | str | bool] | None:
    # Telegraf's cpu plugin: guest time is inside user/nice in /proc/stat, so it is
    # subtracted there and reported on its own.
    def total(t: CpuTimes) -> float:
        return t.user + t.system + t.nice + t.iowait + t.irq + t.softirq + t.steal + t.idle

    delta = total(now) - total(last)
    if delta <= 0:
        return None

    def pct(a: float, b: float) -> float:
        return max(0.0, 100.0 * (a - b) / delta)

    return {
        "usage_user": pct(now.user - now.guest, last.user - last.guest),
        "usage_system": pct(now.system, last.system),
        "usage_idle": pct(now.idle, last.idle),
        "usage_nice": pct(now.nice - now.guest_nice, last.nice - last.guest_nice),
        "usage_iowait": pct(now.iowait, last.iowait),
        "usage_irq": pct(now.irq, last.irq),
        "usage_softirq": pct(now.softirq, last.softirq),
        "usage_steal": pct(now.steal, last.steal),
        "usage_guest": pct(now.guest, last.guest),
        "usage_guest_nice": pct(now.guest_nice, last.guest_nice),
    }


def _sum_cpus(cpus: tuple[CpuTimes, ...]) -> CpuTimes:
    return CpuTimes(
        "cpu-total",
        *(sum(getattr(c, f) for c in cpus) for f in CpuTimes.__dataclass_fields__ if f != "cpu"),
    )


_MEM_FIELDS = {
    "active": "Active", "inactive": "Inactive", "buffered": "Buffers", "free": "MemFree",
    "slab": "Slab", "sreclaimable": "SReclaimable", "sunreclaim": "SUnreclaim",
    "shared": "Shmem", "dirty": "Dirty", "mapped": "Mapped", "page_tables": "PageTables",
    "swap_total": "SwapTotal", "swap_free": "SwapFree", "swap_cached": "SwapCached",
    "commit_limit": "CommitLimit", "committed_as": "Committed_AS",
    "huge_pages_total": "HugePages_Total", "huge_pages_free": "HugePages_Free",
    "huge_page_size": "Hugepagesize", "vmalloc_total": "VmallocTotal",
    "vmalloc_used": "VmallocUsed", "vmalloc_chunk": "VmallocChunk", "write_back": "Writeback",
    "write_back_tmp": "WritebackTmp", "high_total": "HighTotal", "high_free": "HighFree",
    "low_total": "LowTotal", "low_free": "LowFree",
}  # fmt: skip


def format_uptime(seconds: int) -> str:
    """Telegraf's uptime_format: "%d day(s), " when a day has passed, then "%2d:%02d"."""
    days, rest = divmod(seconds, 86400)
    prefix = f"{days} day{'s' if days > 1 else ''}, " if days else ""
    return f"{prefix}{rest // 3600:2d}:{rest % 3600 // 60:02d}"


def to_lines(snap: Snapshot, previous: Snapshot | None, host: str) -> list[str]:
    """Telegraf-shaped points of one snapshot (cpu usage needs the previous snapshot)."""
    ts = int(snap.time * 1000)
    out: list[str] = []
    h = {schema.INFLUX_HOST_TAG: host}
    if previous is not None and snap.cpus and len(previous.cpus) == len(snap.cpus):
        pairs = list(zip(snap.cpus, previous.cpus, strict=True))
        pairs.append((_sum_cpus(snap.cpus), _sum_cpus(previous.cpus)))
        for now, last in pairs:
            fields = _cpu_fields(now, last)
            if fields:
                name = now.cpu if now.cpu == "cpu-total" else f"cpu{now.cpu}"
                out.append(line(schema.INFLUX_CPU, {**h, "cpu": name}, fields, ts))
    if snap.memory is not None:
        m = snap.memory
        total = m.get("MemTotal")
        cached = m.get("Cached") + m.get("SReclaimable")  # as gopsutil, which Telegraf uses
        used = total - m.get("MemFree") - m.get("Buffers") - cached
        # Kernels before 3.14 have no MemAvailable: gopsutil then counts cached + free.
        avail = m.get("MemAvailable", cached + m.get("MemFree"))
        mem: dict[str, float | int | str | bool] = {
            "total": total,
            "available": avail,
            "used": used,
            "cached": cached,
        }
        # Telegraf writes every Linux field, 0 where the kernel has no such line (HighTotal
        # and LowTotal exist on 32-bit kernels only), so the series have the same field set.
        for field_, key in _MEM_FIELDS.items():
            mem[field_] = m.values.get(key, 0)
        if total:
            mem["used_percent"] = 100.0 * used / total
            mem["available_percent"] = 100.0 * avail / total
        out.append(line(schema.INFLUX_MEM, h, mem, ts))
        swap_total, swap_free = m.get("SwapTotal"), m.get("SwapFree")
        swap_used = swap_total - swap_free
        swap: dict[str, float | int | str | bool] = {
            "total": swap_total,
            "used": swap_used,
            "free": swap_free,
            "used_percent": 100.0 * swap_used / swap_total if swap_total else 0.0,
        }
        if snap.swap_activity is not None:
            swap["in"] = snap.swap_activity.swapped_in
            swap["out"] = snap.swap_activity.swapped_out
        out.append(line(schema.INFLUX_SWAP, h, swap, ts))
    for fs in snap.filesystems:
        if fs.device_error:
            continue
        mnt = fs.mount
        used = fs.size - fs.free
        inodes_used = fs.files - fs.files_free
        out.append(
            line(
                schema.INFLUX_DISK,
                {
                    **h,
                    "path": mnt.mountpoint,
                    "device": mnt.device.removeprefix("/dev/"),
                    "fstype": mnt.fstype,
                    "mode": "ro" if mnt.readonly else "rw",
                },
                {
                    "total": fs.size,
                    "free": fs.avail,
                    "used": used,
                    "used_percent": 100.0 * used / (used + fs.avail) if used + fs.avail else 0.0,
                    "inodes_total": fs.files,
                    "inodes_free": fs.files_free,
                    "inodes_used": inodes_used,
                },
                ts,
            )
        )
    queues = {q.device: q for q in snap.disk_queues}
    for d in snap.disks:
        diskio: dict[str, float | int | str | bool] = {
            "reads": d.reads,
            "writes": d.writes,
            "read_bytes": d.read_bytes,
            "write_bytes": d.write_bytes,
            "read_time": d.read_time_ms,
            "write_time": d.write_time_ms,
            "io_time": d.busy_time_ms,
            "merged_reads": d.reads_merged,
            "merged_writes": d.writes_merged,
        }
        q = queues.get(d.device)
        if q is not None:
            diskio["weighted_io_time"] = q.weighted_time_ms
            diskio["iops_in_progress"] = q.in_progress
        out.append(line(schema.INFLUX_DISKIO, {**h, "name": d.device}, diskio, ts))
    flags = snap.interface_flags
    for n in snap.network:
        # Telegraf's net plugin (no `interfaces` set) reports the interfaces that are up
        # (IFF_UP, `ip link set up`; carrier or not) and not loopback.
        if flags is None:
            if n.device == "lo":  # the flags were unreadable: leave out loopback at least
                continue
        else:
            f = flags.get(n.device)
            if f is None or f & IFF_LOOPBACK or not f & IFF_UP:
                continue
        out.append(
            line(
                schema.INFLUX_NET,
                {**h, "interface": n.device},
                {
                    "bytes_sent": n.bytes_sent,
                    "bytes_recv": n.bytes_recv,
                    "packets_sent": n.packets_sent,
                    "packets_recv": n.packets_recv,
                    "err_in": n.errin,
                    "err_out": n.errout,
                    "drop_in": n.dropin,
                    "drop_out": n.dropout,
                },
                ts,
            )
        )
    system: dict[str, float | int | str | bool] = {}
    if snap.load is not None:
        system.update(load1=snap.load[0], load5=snap.load[1], load15=snap.load[2])
    if snap.cpus:
        system["n_cpus"] = len(snap.cpus)
    if snap.logins is not None:
        system["n_users"] = snap.logins.sessions
        system["n_unique_users"] = snap.logins.users
    if snap.kernel is not None:
        uptime = max(0, int(snap.time - snap.kernel.boot_time))
        system["uptime"] = uptime
        system["uptime_format"] = format_uptime(uptime)
    if system:
        out.append(line(schema.INFLUX_SYSTEM, h, system, ts))
    if snap.kernel is not None:
        k = snap.kernel
        kernel: dict[str, float | int | str | bool] = {
            "boot_time": int(k.boot_time),
            "context_switches": k.context_switches,
            "interrupts": k.interrupts,
            "processes_forked": k.forks,
        }
        if snap.entropy is not None:
            kernel["entropy_avail"] = snap.entropy.available
        out.append(line(schema.INFLUX_KERNEL, h, kernel, ts))
    if snap.processes is not None:
        procs: dict[str, float | int | str | bool] = dict(snap.processes.states)
        procs["total"] = snap.processes.total
        procs["total_threads"] = snap.processes.threads
        out.append(line(schema.INFLUX_PROCESSES, h, procs, ts))
    for t in snap.temperatures:
        label = (t.label or t.sensor).lower().replace(" ", "")
        sensor = f"{t.chip_name or t.chip}_{label}_input"
        out.append(line(schema.INFLUX_TEMP, {**h, "sensor": sensor}, {"temp": t.celsius}, ts))
    return out


# -- transport ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    """What the server answered."""

    status: int
    headers: dict[str, str]
    text: str


class Transport(Protocol):
    """Sends one HTTP POST; raises OSError when no answer came."""

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        """POST and return the response."""
        ...


class HttpClientTransport:
    """http.client with one kept-alive connection per scheme and host."""

    def __init__(self) -> None:
        self._conns: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        """POST through a kept-alive connection (reopened once if the server closed it)."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        attempt = 0
        while True:  # at most twice: the second failure of a kept-alive connection is raised
            attempt += 1
            conn = self._conns.get(key)
            if conn is None:
                cls = (
                    http.client.HTTPSConnection
                    if parts.scheme == "https"
                    else http.client.HTTPConnection
                )
                conn = self._conns[key] = cls(parts.netloc, timeout=timeout)
            try:
                conn.request("POST", target, body=body, headers=headers)
                resp = conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._conns.pop(key, None)
                if attempt == 2:
                    raise
                continue
            except OSError:
                conn.close()
                self._conns.pop(key, None)
                raise
            except http.client.HTTPException as exc:
                conn.close()
                self._conns.pop(key, None)
                raise OSError(f"bad HTTP answer: {exc!r}") from exc
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)


# -- the writer -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """What a 400/422 answer says about the points of the request."""

    message: str  # the server's message, unwrapped from its JSON
    partial: bool  # the server stored the points it did not refuse
    bad: frozenset[int]  # indexes of the refused points it names
    unnamed: int  # refused points it counts but does not name ("dropped=N")


_DROPPED = re.compile(r"\bdropped=(\d+)")


def parse_rejection(lines: list[bytes], text: str) -> Rejection:
    """Read InfluxDB's 400/422 answer to a write of `lines`.

    1.x: `{"error": "partial write: unable to parse '<line>': <why> dropped=0"}` (several
    `unable to parse` joined by newlines; the other points are stored) or, when no point
    parsed, the same without "partial write". `dropped=N` counts points refused for other
    reasons (field type conflict, beyond retention). 2.x: `{"code": "invalid", "message":
    ...}` with the same text. 3.x: `{"error": "partial write of line protocol occurred",
    "data": [{"line_number": 2, ...}]}` (1-based).
    """
    message = text.strip()
    bad: set[int] = set()
    try:
        body = json.loads(message)
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error") or body.get("message")
        if isinstance(inner, str):
            message = inner
        data = body.get("data")
        for item in data if isinstance(data, list) else ():
            number = item.get("line_number") if isinstance(item, dict) else None
            if isinstance(number, int) and 1 <= number <= len(lines):
                bad.add(number - 1)
    if "unable to parse '" in message:
        raw = message.encode("utf-8", "surrogateescape")
        for i, point in enumerate(lines):
            if b"unable to parse '" + point + b"'" in raw:
                bad.add(i)
    unnamed = sum(int(n) for n in _DROPPED.findall(message))
    return Rejection(message, "partial write" in message, frozenset(bad), unnamed)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, when - (now if now is not None else time.time())))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt did: `retry_in` seconds to wait (0 = go on at once)."""

    delivered: int = 0
    dropped: int = 0
    retry_in: float = 0.0


class InfluxWriter:
    """Samples into the spool on one thread and delivers the spool on another."""

    def __init__(
        self,
        config: InfluxConfig,
        host: str,
        sample: Callable[[], Snapshot],
        transport: Transport | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.sample = sample
        self.transport: Transport = transport or HttpClientTransport()
        self.spool = Spool(Path(config.spool_dir), config.spool_max_bytes, config.batch_size)
        self.written = 0
        self.rejected = 0
        self.errors = 0
        self.last_success = 0.0
        self._previous: Snapshot | None = None
        self._failures = 0
        self._attempts_4xx = 0
        self._max_lines = config.batch_size  # halved by a 413, grown back by accepted writes
        self._full_writes = 0  # accepted requests of _max_lines points since the last change
        # Looking for the refused points of a request the server refused whole without naming
        # them: requests of at most _probe points until _probe_left points are settled.
        self._probe: int | None = None
        self._probe_left = 0
        self._database_ok = config.api != "v1" or not config.create_database
        self._may_create_database = True  # until InfluxDB says the user is no admin
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._write_url, self._headers = self._endpoint()

    def _endpoint(self) -> tuple[str, dict[str, str]]:
        c = self.config
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if c.gzip:
            headers["Content-Encoding"] = "gzip"
        if c.api == "v2":
            qs = urllib.parse.urlencode({"org": c.org, "bucket": c.bucket, "precision": "ms"})
            if c.token:
                headers["Authorization"] = f"Token {c.token}"
            return f"{c.url}/api/v2/write?{qs}", headers
        params = {"db": c.database, "precision": "ms"}
        if c.retention_policy:
            params["rp"] = c.retention_policy
        headers.update(self._basic_auth())
        return f"{c.url}/write?{urllib.parse.urlencode(params)}", headers

    def _basic_auth(self) -> dict[str, str]:
        """v1 credentials as a Basic header, so they never sit in a URL (or a proxy's log)."""
        c = self.config
        if not c.username:
            return {}
        raw = f"{c.username}:{c.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    # -- figures ----------------------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        """The writer's figures, by metric name."""
        return {
            schema.INFLUX_POINTS_WRITTEN: self.written,
            schema.INFLUX_POINTS_SPOOLED: self.spool.points(),
            schema.INFLUX_POINTS_DROPPED: self.spool.dropped + self.spool.lost + self.rejected,
            schema.INFLUX_WRITE_ERRORS: self.errors,
            schema.INFLUX_SPOOL_BYTES: self.spool.size(),
            schema.INFLUX_SPOOL_LIMIT_BYTES: self.spool.max_bytes,
            schema.INFLUX_LAST_SUCCESS: self.last_success,
        }

    # -- threads ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling and delivering."""
        loops = (("influx-sample", self._sample_loop), ("influx-send", self._send_loop))
        for name, target in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads; unsent points stay in the spool for the next start."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def _sample_loop(self) -> None:
        interval = self.config.interval_seconds
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:
                log.exception("sampling for InfluxDB failed; trying again next interval")
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspend, slow disk): skip, don't burst
                next_at = time.monotonic() + interval
                delay = interval
            if self._stop.wait(delay):
                break

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            try:
                outcome = self.deliver_once()
            except Exception:  # a broken spool file must not end delivery for good
                log.exception("delivering to InfluxDB failed; trying again")
                outcome = Outcome(retry_in=self._next_backoff())
            if outcome.retry_in > 0:
                self._wake.clear()
                self._stop.wait(outcome.retry_in)
            elif outcome.delivered == 0 and outcome.dropped == 0:
                self._wake.wait(1.0)
                self._wake.clear()

    # -- steps (also called directly by tests) -------------------------------------------------
    def sample_once(self) -> int:
        """Take a snapshot and spool its points; returns how many were spooled."""
        snap = self.sample()
        lines = to_lines(snap, self._previous, self.host)
        self._previous = snap
        spooled = self.spool.append(lines)  # 0 when the disk is full: counted as lost
        self._wake.set()
        return spooled

    def deliver_once(self) -> Outcome:
        """Send the oldest spooled points once and act on the answer."""
        if not self._database_ok:
            self._create_database()
        batch = self.spool.oldest()
        if batch is None:
            return Outcome()
        try:
            return self._send(batch)
        finally:  # the segment may be dropped again by the size limit from now on
            self.spool.release(batch.seq)

    def _send(self, batch: Batch) -> Outcome:
        limit = self._max_lines
        if self._probe is not None:
            limit = max(1, min(limit, self._probe, self._probe_left))
        lines = batch.lines[:limit]
        body = b"\n".join(lines) + b"\n"
        if self.config.gzip:
            body = zlib.compress(body, 6, wbits=31)
        try:
            resp = self.transport.post(
                self._write_url, body, self._headers, self.config.timeout_seconds
            )
        except OSError as exc:
            self.errors += 1
            return self._backoff(f"InfluxDB at {self.config.url} is unreachable: {exc}")
        if resp.status in (200, 204):
            self._done(batch, len(lines))
            self.written += len(lines)
            self._probed(len(lines))
            self._grow_batch(len(lines))
            self.last_success = time.time()
            if self._failures:
                log.info("InfluxDB accepts writes again")
            self._failures = 0
            self._attempts_4xx = 0
            return Outcome(delivered=len(lines))
        self.errors += 1
        message = resp.text.strip()[:500]
        if resp.status == 429 or resp.status >= 500:
            wait = retry_after_seconds(resp.headers.get("retry-after"))
            return self._backoff(f"InfluxDB answered {resp.status}: {message}", wait)
        if resp.status == 413 and len(lines) > 1:
            self._max_lines = len(lines) // 2
            self._full_writes = 0
            log.warning(
                "InfluxDB found %d points too large a request (413: %s); sending at most %d "
                "per request, growing back after %d accepted ones",
                len(lines),
                message,
                self._max_lines,
                GROW_AFTER,
            )
            return Outcome(retry_in=0.01)
        if resp.status in DATA_ERRORS:
            return self._data_error(batch, lines, resp.status, resp.text)
        return self._refused(resp.status, message)

    def _grow_batch(self, sent: int) -> None:
        """After GROW_AFTER accepted requests at the reduced size, allow a quarter more."""
        limit = self.config.batch_size
        if self._max_lines >= limit or sent < self._max_lines:
            return  # not reduced, or this request did not test the reduced size
        self._full_writes += 1
        if self._full_writes >= GROW_AFTER:
            self._full_writes = 0
            self._max_lines = min(limit, self._max_lines + max(1, self._max_lines // 4))
            log.info(
                "InfluxDB accepted %d requests of %d points in a row; sending up to %d per "
                "request (batch_size %d)",
                GROW_AFTER, sent, self._max_lines, limit,
            )  # fmt: skip

    def _refused(self, status: int, message: str) -> Outcome:
        """A 4xx about the configuration (credentials, rights, database): keep the points.

        The same request would be refused again until someone fixes the settings or the
        server, so after GIVE_UP_ATTEMPTS the writer stops retrying and only checks once per
        PAUSED_RETRY_SECONDS. The points stay in the spool (bounded: past spool_max_bytes
        the oldest are dropped and counted) and go out once InfluxDB accepts them.
        """
        c = self.config
        if status == 404 and c.api == "v1" and c.create_database and self._may_create_database:
            self._database_ok = False
        self._attempts_4xx += 1
        hint = self._refusal_hint(status)
        if self._attempts_4xx < GIVE_UP_ATTEMPTS:
            log.error(
                "InfluxDB refused the write with %d: %s (attempt %d of %d; %s)",
                status, message, self._attempts_4xx, GIVE_UP_ATTEMPTS, hint,
            )  # fmt: skip
            return Outcome(retry_in=self._next_backoff())
        if self._attempts_4xx == GIVE_UP_ATTEMPTS:
            log.error(
                "InfluxDB refused the write %d times in a row (%d: %s); stopped retrying. "
                "The %d points stay in the spool and are sent once InfluxDB accepts them "
                "(%s; a changed setting needs a restart); checking again every %d minutes",
                GIVE_UP_ATTEMPTS, status, message, self.spool.points(), hint,
                PAUSED_RETRY_SECONDS // 60,
            )  # fmt: skip
        else:
            level = logging.ERROR if (
                (self._attempts_4xx - GIVE_UP_ATTEMPTS) % PAUSED_LOG_EVERY == 0
            ) else logging.DEBUG  # fmt: skip
            log.log(
                level,
                "InfluxDB still refuses the write (%d: %s); %d points wait in the spool; %s",
                status, message, self.spool.points(), hint,
            )  # fmt: skip
        return Outcome(retry_in=PAUSED_RETRY_SECONDS)

    def _refusal_hint(self, status: int) -> str:
        c = self.config
        if c.api == "v2":
            return {
                401: "check token in [exporter.influx]",
                403: f'the token needs write permission on bucket "{c.bucket}"',
                404: "check org and bucket in [exporter.influx]",
            }.get(status, "check url, org, bucket and token in [exporter.influx]")
        return {
            401: "check username and password in [exporter.influx]",
            403: f'user "{c.username}" needs WRITE on database "{c.database}" '
            f'(GRANT WRITE ON "{c.database}" TO "{c.username}")',
            404: f'database "{c.database}" does not exist: create it as an admin '
            f'(CREATE DATABASE "{c.database}") or check database in [exporter.influx]',
        }.get(status, "check url, database, username and password in [exporter.influx]")

    def _done(self, batch: Batch, count: int) -> None:
        if count >= len(batch.lines):
            self.spool.remove(batch.seq)
        else:
            self.spool.replace(batch.seq, batch.lines[count:])

    def _data_error(self, batch: Batch, lines: list[bytes], status: int, text: str) -> Outcome:
        """A 400/422: drop only the points the server refused, never the good ones with them.

        InfluxDB 1.x (and 2.x/3.x for points it could store) answers a "partial write": the
        other points are stored, so they count as written. A request refused whole is sent
        again without the points the message names, or, when it names none, split in halves
        until the refused point is alone.
        """
        found = parse_rejection(lines, text)
        message = found.message[:500]
        self._attempts_4xx = 0
        if found.partial:
            dropped = min(len(lines), len(found.bad) + found.unnamed)
            self._done(batch, len(lines))
            self.written += len(lines) - dropped
            self.rejected += dropped
            self._probed(len(lines))
            self._log_rejected(dropped, len(lines), status, message)
            return Outcome(delivered=len(lines) - dropped, dropped=dropped)
        if found.bad:
            rest = [line for i, line in enumerate(lines) if i not in found.bad]
            rest += batch.lines[len(lines) :]
            if rest:
                self.spool.replace(batch.seq, rest)
            else:
                self.spool.remove(batch.seq)
            self.rejected += len(found.bad)
            self._log_rejected(len(found.bad), len(lines), status, message)
            if self._probe is not None:
                self._probe_left -= len(found.bad)
                if self._probe_left <= 0:
                    self._probe = None
            return Outcome(dropped=len(found.bad))
        if len(lines) > 1:
            if self._probe is None:
                self._probe_left = len(lines)
            self._probe = len(lines) // 2
            log.warning(
                "InfluxDB refused %d points with %d without naming the bad ones (%s); "
                "sending them in halves to find them",
                len(lines), status, message,
            )  # fmt: skip
            return Outcome(retry_in=0.01)
        self._done(batch, 1)
        self.rejected += 1
        self._log_rejected(1, 1, status, message)
        if self._probe is not None:
            self._probe_left -= 1
            # The rest of the refused request goes in one piece again: it is split only if
            # it holds another bad point.
            self._probe = self._probe_left if self._probe_left > 0 else None
        return Outcome(dropped=1)

    def _probed(self, settled: int) -> None:
        if self._probe is not None:
            self._probe_left -= settled
            if self._probe_left <= 0:
                self._probe = None

    def _log_rejected(self, dropped: int, sent: int, status: int, message: str) -> None:
        log.error(
            "InfluxDB rejected %d of %d points with %d: %s; they are dropped, not retried",
            dropped, sent, status, message,
        )  # fmt: skip

    def _next_backoff(self) -> float:
        self._failures += 1
        base = min(self.config.max_backoff_seconds, 0.5 * 2 ** min(self._failures - 1, 16))
        return float(base * random.uniform(0.8, 1.0))

    def _backoff(self, reason: str, retry_after: float | None = None) -> Outcome:
        wait = self._next_backoff()
        if retry_after is not None:
            wait = retry_after
        level = logging.WARNING if self._failures in (1, 5) or self._failures % 50 == 0 else (
            logging.DEBUG
        )
        log.log(level, "%s; %d points wait in the spool; retrying in %.1f s (failure %d)",
                reason, self.spool.points(), wait, self._failures)  # fmt: skip
        return Outcome(retry_in=wait)

    def _create_database(self) -> None:
        c = self.config
        params = {"q": f'CREATE DATABASE "{c.database}"'}
        url = f"{c.url}/query?{urllib.parse.urlencode(params)}"
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self._basic_auth()}
        try:
            resp = self.transport.post(url, b"", headers, c.timeout_seconds)
        except OSError:
            return  # unreachable: the write will report it
        self._database_ok = True  # created, or not ours to create: the write says what's next
        if resp.status == 200:
            return
        message = resp.text.strip()[:300]
        if resp.status == 403:
            self._may_create_database = False
            log.warning(
                'InfluxDB user "%s" may not create databases (403: %s); writing to "%s" '
                "anyway, assuming it exists. Create it as an admin, or set "
                "[exporter.influx] create_database = false to skip this step",
                c.username, message, c.database,
            )  # fmt: skip
        else:
            log.warning("CREATE DATABASE %s answered %d: %s", c.database, resp.status, message)
