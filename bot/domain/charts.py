"""What a chart shows, independent of how it is drawn: series, charts, the alert graph's spec,
and the catalogue of named charts (`CHARTS`, grown by the charts work).

The renderer (`bot.adapters.charts`) turns these into PNG bytes; the alert graph, `/chart`,
the live dashboards and the reports all describe their charts with these values.

Example::

    graph = AlertGraph(
        title="HostHighCpu nas:9101",
        series=(Series({"instance": "nas:9101"}, ((1700000000.0, 0.93), (1700000060.0, 0.95))),),
        start=1699996400.0, end=1700000060.0, threshold=0.9, firing_since=1700000000.0,
    )
"""

from __future__ import annotations

import logging
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Literal, overload

from exporter import schema

log = logging.getLogger(__name__)


class Points(Sequence[tuple[float, float]]):
    """A series' (unix seconds, value) points, packed as one flat `array('d')` of
    t0, v0, t1, v1...: a sequence of (t, v) tuples to read, but no tuple is stored.

    The range clients fill the array while parsing, the renderer reads it as a numpy view
    without a copy, and it pickles (to the chart pool) as raw bytes: 400,000 Python tuples
    would cost ~50 ms to pack and as much to pickle. Equal to any sequence of the same pairs.

    Example::

        p = Points.of(((1.0, 0.5), (2.0, 0.7)))
        len(p), p[-1], list(p) == [(1.0, 0.5), (2.0, 0.7)]   # 2, (2.0, 0.7), True
        Points(array("d", [1.0, 0.5, 2.0, 0.7])) == p         # True
    """

    __slots__ = ("flat",)

    def __init__(self, flat: array[float] | None = None) -> None:
        if flat is None:
            flat = array("d")
        if flat.typecode != "d" or len(flat) % 2:
            raise ValueError("Points needs an array('d') of t, v pairs (an even length)")
        self.flat = flat

    @classmethod
    def of(cls, pairs: Iterable[tuple[float, float]]) -> Points:
        """Points from (t, v) pairs (any iterable; Points themselves are returned as they are)."""
        if isinstance(pairs, Points):
            return pairs
        return cls(array("d", chain.from_iterable(pairs)))

    def __len__(self) -> int:
        return len(self.flat) // 2

    @overload
    def __getitem__(self, i: int) -> tuple[float, float]: ...
    @overload
    def __getitem__(self, i: slice) -> Points: ...
    def __getitem__(self, i: int | slice) -> tuple[float, float] | Points:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step == 1:
                return Points(self.flat[2 * start : 2 * max(start, stop)])
            return Points.of(self[j] for j in range(start, stop, step))
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("Points index out of range")
        return self.flat[2 * i], self.flat[2 * i + 1]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(islice(self.flat, 0, None, 2), islice(self.flat, 1, None, 2), strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Points):
            return self.flat == other.flat
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self) and all(
                tuple(p) == q for p, q in zip(other, self, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable underneath, like the list it replaces

    def __repr__(self) -> str:
        shown = ", ".join(f"({t:g}, {v:g})" for t, v in islice(self, 3))
        return f"Points([{shown}{', ...' if len(self) > 3 else ''}], n={len(self)})"

    def __reduce__(self) -> tuple[type[Points], tuple[array[float]]]:
        return Points, (self.flat,)


def finite_points(flat: array[float]) -> Points:
    """`flat` (t, v pairs) without the pairs whose value is NaN or ±Inf: the range clients
    drop them. One C-speed sum tells that every value is finite, nearly always."""
    if math.isfinite(sum(flat)):
        return Points(flat)
    values = islice(flat, 1, None, 2)
    return Points(array("d", chain.from_iterable(
        (t, v) for t, v in zip(islice(flat, 0, None, 2), values, strict=True)
        if math.isfinite(v))))


@dataclass(frozen=True, slots=True)
class Series:
    """One series: its labels and (unix seconds, value) points in time order.

    `points` may be given as any sequence of (t, v) pairs; it is kept as `Points` (packed
    floats), which read as the same pairs."""

    labels: dict[str, str]
    points: Points
    name: str = ""  # the legend's text; empty: named from the labels (instance, host, ...)

    def __init__(
        self, labels: dict[str, str], points: Iterable[tuple[float, float]] = (), name: str = ""
    ) -> None:
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "points", Points.of(points))
        object.__setattr__(self, "name", name)


@dataclass(frozen=True, slots=True)
class AlertGraph:
    """An alert's expression over a window: the threshold line and the firing window shaded.

    `firing_until` is None while the alert still fires (shaded to `end`).
    """

    title: str
    series: tuple[Series, ...]
    start: float
    end: float
    threshold: float | None = None
    firing_since: float | None = None
    firing_until: float | None = None
    unit: str = ""  # "ratio", "seconds", "celsius", "bytes", ... ("" plain numbers)
    expr: str = ""


# Ranges offered by /chart, as (name, seconds).
RANGES: tuple[tuple[str, float], ...] = (
    ("15m", 900.0), ("1h", 3600.0), ("6h", 21600.0), ("24h", 86400.0),
    ("7d", 604800.0), ("30d", 2592000.0),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PromQuery:
    """One PromQL expression of a named chart; `{host}` in it is the host's label matcher
    (e.g. `instance="nas:9100"`), `legend` names each series from its labels (`{device}`)."""

    expr: str
    legend: str = "{instance}"

    def expr_for(self, matcher: str) -> str:
        """The expression for one host: `matcher` (`instance="nas:9100", job="node"`, as
        /status selects a host; never empty) put where `{host}` stands."""
        return self.expr.replace("{host}", matcher)

    def name_for(self, labels: Mapping[str, str]) -> str:
        """A series' legend text from its labels (a label it lacks reads as empty)."""
        return legend_text(self.legend, labels)


@dataclass(frozen=True, slots=True)
class InfluxQuery:
    """The same data in InfluxDB (Telegraf's schema): an InfluxQL SELECT with `$timeFilter`,
    `$interval` and `$host` placeholders, and the tag that names each series.

    As in Grafana, `$host` is a regex body (`"host" =~ /^$host$/`); without a GROUP BY,
    `GROUP BY time($interval), "<legend_tag>" fill(none)` is appended
    (`bot.domain.ranges.influxql`)."""

    select: str
    legend_tag: str = "host"
    legend: str = ""  # legend text over the series' tags ("{name} read"); "": by legend_tag

    def name_for(self, tags: Mapping[str, str]) -> str:
        """A series' legend text from its tags: `legend` filled, else the `legend_tag` value."""
        if self.legend:
            return legend_text(self.legend, tags)
        return tags.get(self.legend_tag, "")


_FIELD = re.compile(r"\{(\w+)\}")


def legend_text(template: str, labels: Mapping[str, str]) -> str:
    """`template` with each `{label}` replaced by that label's value ("" when absent)."""
    return " ".join(_FIELD.sub(lambda m: labels.get(m.group(1), ""), template).split())


@dataclass(frozen=True, slots=True)
class ChartDef:
    """A named chart: one definition for /chart, the alert graph and the dashboards."""

    name: str
    title: str
    unit: str  # "ratio", "bytes", "bits_per_second", "bytes_per_second", "seconds", "celsius", ""
    prom: tuple[PromQuery, ...]
    influx: tuple[InfluxQuery, ...] = ()
    help: str = ""
    stacked: bool = False
    minimum: float | None = None  # a fixed floor for the y axis (0 for ratios), else automatic
    maximum: float | None = None
    # Where the data comes from: "prometheus" (ranges past its retention go to InfluxDB when
    # [bot.influxdb] is enabled, bot.services.chart_data) or "influxdb" (always, when enabled).
    source: Literal["prometheus", "influxdb"] = "prometheus"


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart ready to draw: its series over [start, end] and what to mark on it.

    `source` names where the data came from ("Prometheus at http://...", "InfluxDB ..."),
    printed small on the image. `windows` are shaded spans (start, end), e.g. alert windows.
    """

    title: str
    series: tuple[Series, ...]
    start: float
    end: float
    unit: str = ""
    thresholds: tuple[float, ...] = ()
    windows: tuple[tuple[float, float], ...] = ()
    source: str = ""
    step: float = 0.0  # seconds between points: a gap longer than ~2 steps is drawn as a gap
    minimum: float | None = None
    maximum: float | None = None
    stacked: bool = False  # series drawn as stacked areas (their sum is the top line)
    # Counts per bucket (alerts per hour, tasks done per week): a bar per point, over the
    # bucket [t, t + step), series side by side, whole-number ticks.
    bars: bool = False
    width: int = 1200  # pixels: Discord shows 1200x600 whole in an embed, and readably on a phone
    height: int = 600


@dataclass(frozen=True, slots=True)
class ChartGrid:
    """Several charts drawn as panels of one image, `columns` to a row (a dashboard's 2x2).

    Each panel keeps its own title, unit and source; the panels share the image's size, so a
    1200x800 grid of four reads like four 600x400 charts on one attachment.
    """

    charts: tuple[Chart, ...]
    columns: int = 2
    width: int = 1200
    height: int = 800


# -- the named charts ----------------------------------------------------------------------
# PromQL over node_exporter's names (so node_exporter and homelab-exporter both serve them);
# `{host}` is the host's matcher. Rates use a 5m window, as the recording rules do. The
# InfluxQL reads the exporter's Telegraf schema; `$host`, `$timeFilter` and `$interval` are
# the InfluxDB source's to fill (Grafana's names for the same things).

# Real file systems, as /status and the recording rules select them.
_REAL_FS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|iso9660|overlay", device!~"rootfs"'
# Divided per host, so the same expression serves one host and the whole fleet.
_PER_CPU = (
    "/ on (instance) group_left count by (instance) "
    f'({schema.CPU_SECONDS}{{mode="idle", {{host}}}})'
)
# Busy as the recording rule counts it: not idle, not waiting for I/O, not stolen.
_CPU_MODES = ("user", "system", "nice", "irq", "softirq")
# `$host` is a regex body, as in Grafana (bot.domain.ranges.influxql fills it: `.+` for all).
_HOST_WHERE = f'"{schema.INFLUX_HOST_TAG}" =~ /^$host$/ AND $timeFilter'
_TEMP = f"{schema.HWMON_TEMP}{{{{host}}}}"


def _influx(select: str, measurement: str, where: str = "", by: str = "") -> str:
    """One InfluxQL SELECT over the exporter's Telegraf measurement, grouped by time."""
    cond = f"{where} AND {_HOST_WHERE}" if where else _HOST_WHERE
    group = f"time($interval){f', {by}' if by else ''}"
    # Built from this module's constants only; the source fills $host as a quoted string.
    return f'SELECT {select} FROM "{measurement}" WHERE {cond} GROUP BY {group} fill(none)'  # noqa: S608


CHARTS: dict[str, ChartDef] = {
    c.name: c
    for c in (
        ChartDef(
            name="cpu",
            title="CPU busy",
            unit="ratio",
            help="Share of CPU time not idle, by mode (user, system, ...), stacked.",
            stacked=True,
            minimum=0.0,
            maximum=1.0,
            prom=(
                PromQuery(
                    f"sum by (instance, mode) (rate({schema.CPU_SECONDS}"
                    f'{{mode!~"idle|iowait|steal", {{host}}}}[5m])) {_PER_CPU}',
                    legend="{mode}",
                ),
            ),
            influx=tuple(
                InfluxQuery(
                    _influx(f'mean("usage_{mode}") / 100 AS "{mode}"', schema.INFLUX_CPU,
                            """"cpu" = 'cpu-total'"""),
                    legend=mode,
                )
                for mode in _CPU_MODES
            ),
        ),
        ChartDef(
            name="memory",
            title="Memory used",
            unit="ratio",
            help="Memory in use: what the kernel could not hand out without swapping.",
            minimum=0.0,
            maximum=1.0,
            prom=(
                PromQuery(
                    f"1 - {schema.MEM_AVAILABLE}{{{{host}}}} / {schema.MEM_TOTAL}{{{{host}}}}",
                    legend="used",
                ),
            ),
            influx=(
                InfluxQuery(_influx('mean("used_percent") / 100 AS "used"', schema.INFLUX_MEM),
                            legend="used"),
            ),
        ),
        ChartDef(
            name="disk",
            title="Disk used",
            unit="ratio",
            help="Space used on each mounted file system, as df's Use% counts it.",
            minimum=0.0,
            maximum=1.0,
            prom=(
                PromQuery(
                    f"1 - {schema.FS_AVAIL}{{{_REAL_FS}, {{host}}}}"
                    f" / ({schema.FS_SIZE}{{{_REAL_FS}, {{host}}}} > 0)",
                    legend="{mountpoint}",
                ),
            ),
            influx=(
                InfluxQuery(
                    _influx('mean("used_percent") / 100 AS "used"', schema.INFLUX_DISK,
                            by='"path"'),
                    legend_tag="path",
                ),
            ),
        ),
        ChartDef(
            name="diskio",
            title="Disk I/O",
            unit="bytes_per_second",
            help="Bytes read from and written to each disk, per second.",
            minimum=0.0,
            prom=(
                PromQuery(f"rate({schema.DISK_READ_BYTES}{{{{host}}}}[5m])",
                          legend="{device} read"),
                PromQuery(f"rate({schema.DISK_WRITTEN_BYTES}{{{{host}}}}[5m])",
                          legend="{device} write"),
            ),
            influx=(
                InfluxQuery(
                    _influx('non_negative_derivative(mean("read_bytes"), 1s) AS "read"',
                            schema.INFLUX_DISKIO, by='"name"'),
                    legend_tag="name", legend="{name} read",
                ),
                InfluxQuery(
                    _influx('non_negative_derivative(mean("write_bytes"), 1s) AS "write"',
                            schema.INFLUX_DISKIO, by='"name"'),
                    legend_tag="name", legend="{name} write",
                ),
            ),
        ),
        ChartDef(
            name="network",
            title="Network",
            unit="bits_per_second",
            help="Bits received and sent on each interface, per second (loopback left out).",
            minimum=0.0,
            prom=(
                PromQuery(
                    f'rate({schema.NETWORK_RECEIVE_BYTES}{{device!="lo", {{host}}}}[5m]) * 8',
                    legend="{device} receive",
                ),
                PromQuery(
                    f'rate({schema.NETWORK_TRANSMIT_BYTES}{{device!="lo", {{host}}}}[5m]) * 8',
                    legend="{device} transmit",
                ),
            ),
            influx=(
                InfluxQuery(
                    _influx('non_negative_derivative(mean("bytes_recv"), 1s) * 8 AS "receive"',
                            schema.INFLUX_NET, """"interface" != 'lo'""", by='"interface"'),
                    legend_tag="interface", legend="{interface} receive",
                ),
                InfluxQuery(
                    _influx('non_negative_derivative(mean("bytes_sent"), 1s) * 8 AS "transmit"',
                            schema.INFLUX_NET, """"interface" != 'lo'""", by='"interface"'),
                    legend_tag="interface", legend="{interface} transmit",
                ),
            ),
        ),
        ChartDef(
            name="load",
            title="Load per CPU",
            unit="",
            help="Load averages over 1, 5 and 15 minutes, divided by the number of CPUs.",
            minimum=0.0,
            prom=tuple(
                PromQuery(f"{name}{{{{host}}}} {_PER_CPU}", legend=label)
                for name, label in ((schema.LOAD1, "1 min"), (schema.LOAD5, "5 min"),
                                    (schema.LOAD15, "15 min"))
            ),
            influx=tuple(
                InfluxQuery(
                    _influx(f'mean("{field}") / mean("n_cpus") AS "{field}"',
                            schema.INFLUX_SYSTEM),
                    legend=label,
                )
                for field, label in (("load1", "1 min"), ("load5", "5 min"),
                                     ("load15", "15 min"))
            ),
        ),
        ChartDef(
            name="temperature",
            title="Temperature",
            unit="celsius",
            help="Each hardware sensor's temperature, named by its chip.",
            prom=(
                PromQuery(
                    # Node Exporter Full's join for the chip's name; chips without one keep
                    # their id.
                    f"({_TEMP} * on (chip) group_left (chip_name) "
                    f"{schema.HWMON_CHIP_NAMES}{{{{host}}}}) or on (chip, sensor) {_TEMP}",
                    legend="{chip_name} {sensor}",
                ),
            ),
            influx=(
                InfluxQuery(_influx('mean("temp") AS "temp"', schema.INFLUX_TEMP,
                                    by='"sensor"'),
                            legend_tag="sensor"),
            ),
        ),
    )
}
