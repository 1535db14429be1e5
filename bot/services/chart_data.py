"""The data of a chart: which source, which step, and a short-lived cache of range results.

Each chart names its source (`ChartDef.source`, Prometheus by default). A range longer than
Prometheus keeps data (`[bot.prometheus] retention_seconds`) goes to InfluxDB when
`[bot.influxdb]` is enabled and the chart has InfluxQL; otherwise it is clipped to the
retention, with a note saying so. Results are cached for about one step, keyed on (source,
query, aligned start, aligned end, step), so the same chart asked twice within a step (a
refresh button, two people, a dashboard) is one query.

Example::

    data = ChartData(prometheus, influx=None, retention_seconds=15 * 86400)
    got = await data.series(CHARTS["cpu"], target, 3600, time.time())
    got.series, got.source, got.step          # (Series(...), ...), "http://...:9090", 15.0
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace

from bot.domain.charts import ChartDef, InfluxQuery, Series
from bot.domain.ranges import RangePlan, SourceName, choose_source, influxql, plan_range
from bot.domain.status import Target, promql_string
from bot.services.ports import InfluxRangeSource, MetricsUnavailable, NamedRangeSource

log = logging.getLogger(__name__)

CacheKey = tuple[str, str, float, float, float]


class RangeCache:
    """A bounded LRU of range results, each kept `ttl(step)` seconds (one step by default).

    Concurrent misses on one key share one query. The clock is a parameter for tests.
    """

    def __init__(self, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries <= 0:
            raise ValueError(f"max_entries must be > 0, not {max_entries}")
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[Hashable, tuple[float, tuple[Series, ...]]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future[tuple[Series, ...]]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    async def get(
        self,
        key: CacheKey,
        ttl: float,
        fetch: Callable[[], Awaitable[list[Series]]],
    ) -> tuple[Series, ...]:
        """The cached result for `key`, else `fetch()`'s, kept `ttl` s; errors are not kept."""
        now = self.clock()
        item = self._items.get(key)
        if item is not None and item[0] > now:
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]
        if item is not None:
            del self._items[key]
        pending = self._inflight.get(key)
        if pending is not None:
            self.hits += 1
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The request it waited for was cancelled (its user gave up), not this one.
                return await self.get(key, ttl, fetch)
        self.misses += 1
        future: asyncio.Future[tuple[Series, ...]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = tuple(await fetch())
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]
        future.set_result(result)
        self._items[key] = (self.clock() + ttl, result)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return result


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """What a chart draws: its series, where they came from, the step and the window.

    `note` says what the user should know (the range was clipped to the retention), or "".
    """

    series: tuple[Series, ...]
    source: str
    step: float
    start: float
    end: float
    source_kind: SourceName = "prometheus"
    note: str = ""


def host_matcher(target: Target | None) -> str:
    """The PromQL label matcher `{host}` stands for: the target's instance, or every one."""
    if target is None:
        return 'instance=~".+"'
    return f"instance={promql_string(target.instance)}"


def influx_host(target: Target | None) -> str:
    """The `host` tag the exporter writes for a target ("" for every host)."""
    if target is None:
        return ""
    return target.host or target.nodename or target.address


class ChartData:
    """Range results for named charts from Prometheus or InfluxDB, cached for one step."""

    def __init__(
        self,
        prometheus: NamedRangeSource,
        influx: InfluxRangeSource | None = None,
        *,
        retention_seconds: float = 15 * 86400.0,
        scrape_interval: float = 15.0,
        width_px: int = 1200,
        cache: RangeCache | None = None,
    ) -> None:
        self.prometheus = prometheus
        self.influx = influx
        self.retention_seconds = retention_seconds
        self.scrape_interval = scrape_interval
        self.width_px = width_px
        self.cache = cache if cache is not None else RangeCache()

    def plan(self, range_seconds: float, now: float) -> RangePlan:
        """The aligned window and step of a range ending now."""
        return plan_range(now, range_seconds, self.scrape_interval, self.width_px)

    async def series(
        self, chart: ChartDef, host: Target | None, range_seconds: float, now: float
    ) -> ChartSeries:
        """The chart's series over the last `range_seconds` for one host (None: every host)."""
        choice = choose_source(
            range_seconds,
            self.retention_seconds,
            influx=self.influx is not None and bool(chart.influx),
            prefer=chart.source,
        )
        if choice.source == "influxdb" and self.influx is not None:
            return await self._influx(self.influx, chart, host, range_seconds, now)
        if not chart.prom:
            raise MetricsUnavailable(
                "InfluxDB",
                f"chart {chart.name!r} reads only InfluxDB, and [bot.influxdb] is not enabled; "
                "enable it with a url",
            )
        note = ""
        if choice.clipped_to is not None:
            note = (
                f"Prometheus keeps {_days(self.retention_seconds)}: showing that much, not "
                f"{_days(range_seconds)}. Enable [bot.influxdb] for longer ranges."
            )
            range_seconds = choice.clipped_to
        plan = self.plan(range_seconds, now)
        source = self.prometheus.source
        matcher = host_matcher(host)
        out: list[Series] = []
        for q in chart.prom:
            expr = q.expr.replace("{host}", matcher)

            async def fetch(expr: str = expr) -> list[Series]:
                return await self.prometheus.query_range(expr, plan.start, plan.end, plan.step)

            key = (source, expr, plan.start, plan.end, plan.step)
            out += [replace(s, name=s.name or q.name_for(s.labels))
                    for s in await self.cache.get(key, plan.step, fetch)]
        return ChartSeries(tuple(out), source, plan.step, plan.start, plan.end, "prometheus", note)

    async def _influx(
        self,
        influx: InfluxRangeSource,
        chart: ChartDef,
        host: Target | None,
        range_seconds: float,
        now: float,
    ) -> ChartSeries:
        plan = self.plan(range_seconds, now)
        name = influx_host(host)
        out: list[Series] = []
        for q in chart.influx:

            async def fetch(q: InfluxQuery = q) -> list[Series]:
                return await influx.query_range(q, plan.start, plan.end, plan.step, name)

            key = (influx.source, influxql(q, plan.start, plan.end, plan.step, name),
                   plan.start, plan.end, plan.step)  # fmt: skip
            out += [replace(s, name=s.name or q.name_for(s.labels))
                    for s in await self.cache.get(key, plan.step, fetch)]
        return ChartSeries(tuple(out), influx.source, plan.step, plan.start, plan.end, "influxdb")


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} days" if days >= 1 else f"{seconds / 3600:g} hours"
