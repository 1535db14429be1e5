"""Whether prometheus-api-client and influxdb-client earn their place in the bot (issue 10,
item 8): their import cost and query time beside the bot's own aiohttp clients, against a real
Prometheus and a real InfluxDB 1.x started here.

The bot is async; prometheus-api-client is sync (requests), so it runs in a thread.
influxdb-client's async client speaks only Flux (`/api/v2/query`), which InfluxDB 1.6 and 3.x
do not serve; its attempt is reported as what the server answered.

Example::

    python -m bench.clients          # prints one line per measurement
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.influxdb import InfluxDBClient
from bot.adapters.prometheus import PrometheusClient
from bot.domain.charts import Series
from tests.harness.services import InfluxDB, Prometheus, ServiceGroup

# 601 points per range over 10 minutes at 1 s, in 4 series: the size of a small chart.
EXPR = " or ".join(f'label_replace(vector(time()), "k", "{k}", "", "")' for k in "abcd")

IMPORT_PROBE = (
    "import sys, importlib\n"
    "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
    "import bot.adapters.prometheus, bot.adapters.influxdb\n"
    "base = rss(); importlib.import_module(sys.argv[1]); print(rss() - base)\n"
)


def import_mb(module: str) -> float:
    """Resident MB that importing `module` adds to a process that already has the bot's clients."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, module], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def row(server: str, client: str, med: float, burst: float, n: int) -> str:
    """One aligned line of figures."""
    return f"{server:11} {client:36} median {med:6.1f} ms, {n} at once {burst:7.1f} ms"


async def timed(call: Callable[[], Awaitable[object]], n: int) -> tuple[float, float]:
    """(median ms sequentially, wall ms of `n` at once), after a warm-up of 10 calls."""
    for _ in range(10):
        await call()
    seq = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        seq.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(n)))
    return statistics.median(seq), (time.perf_counter() - t) * 1000


async def best(call: Callable[[], Awaitable[object]], n: int, rounds: int) -> tuple[float, float]:
    """The best of `rounds` runs of `timed` (the machine is shared: the best is the cost)."""
    runs = [await timed(call, n) for _ in range(rounds)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


ABSENT = "not installed (removed from pyproject.toml: docs/charts.md, Sources); pip install it"


async def measure(prom: Prometheus, influx: InfluxDB, n: int) -> list[str]:
    """One line per measurement; the libraries are optional (pip install them to compare)."""
    end = time.time()
    start = end - 600
    lines = []
    async with PrometheusClient(prom.url) as ours:
        med, burst = await best(lambda: ours.query_range(EXPR, start, end, 1), n, 3)
        lines.append(row("prometheus", "ours (aiohttp)", med, burst, n))
    try:
        from prometheus_api_client import PrometheusConnect
    except ImportError:
        lines.append(f"prometheus  prometheus-api-client {ABSENT}")
    else:
        theirs = PrometheusConnect(prom.url, disable_ssl=True)
        s_dt, e_dt = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)

        def theirs_series() -> list[Series]:
            # The same output as ours: Series of float points (it returns the JSON's strings).
            result = theirs.custom_query_range(EXPR, s_dt, e_dt, "1s")
            return [
                Series(r["metric"], tuple((float(t), float(v)) for t, v in r["values"]))
                for r in result
            ]

        med, burst = await best(lambda: asyncio.to_thread(theirs_series), n, 3)
        lines.append(row("prometheus", "prometheus-api-client+thread", med, burst, n))

    q = 'SELECT mean("n") FROM "m" WHERE time > now() - 1h GROUP BY time(10s) fill(none)'
    async with InfluxDBClient(influx.url, database="bench") as ours_influx:
        med, burst = await best(lambda: ours_influx.select(q), n, 3)
        lines.append(row("influxdb", "ours (aiohttp, InfluxQL)", med, burst, n))
    try:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
    except ImportError:
        lines.append(f"influxdb    influxdb-client {ABSENT}")
    else:
        async with InfluxDBClientAsync(influx.url, token="", org="-") as client:
            try:
                await client.query_api().query('from(bucket: "bench") |> range(start: -1h)')
                lines.append("influxdb    influxdb-client async (Flux)  answered")
            except Exception as exc:  # what 1.6 answers to /api/v2/query
                why = str(exc).splitlines()[0][:90]
                lines.append(f"influxdb    influxdb-client async (Flux)  fails: {why}")
    for module in (
        "prometheus_api_client.prometheus_connect",
        "influxdb_client",
        "influxdb_client.client.influxdb_client_async",
    ):
        try:
            lines.append(f"import      {module:44} +{import_mb(module):5.1f} MB RSS")
        except subprocess.CalledProcessError:
            lines.append(f"import      {module:44} {ABSENT}")
    return lines


def main(n: int = 50) -> int:
    """Start the services, measure, print."""
    with tempfile.TemporaryDirectory() as tmp:
        group = ServiceGroup(Path(tmp))
        try:
            prom = group(Prometheus)
            influx = group(InfluxDB)
            influx.create_database("bench")
            t0 = int(time.time()) - 3600
            influx.write("bench", "\n".join(f"m n={i}i {t0 + i}" for i in range(0, 3600, 2)), "s")
            for line in asyncio.run(measure(prom, influx, n)):
                print(line)
        finally:
            group.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
