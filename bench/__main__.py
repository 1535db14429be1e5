"""`python -m bench`: every benchmark, printed as ratios against its same-run baseline.

Example::

    python -m bench                          # everything (the alert burst takes ~8 minutes)
    python -m bench --only webhook,burst     # just the two alert-delivery benchmarks
    python -m bench --skip burst --burst-alerts 200
"""

from __future__ import annotations

import argparse
import sys

from bench.alerts_burst import compare as compare_burst
from bench.alerts_burst import format_table as format_burst
from bench.chart_e2e import chart_e2e, format_e2e
from bench.charts import compare_charts, format_charts
from bench.dashboards import compare_grid, format_grid
from bench.exporter import main as exporter_main
from bench.exposition import compare_renderers, format_renderers
from bench.live_dashboards import format_live, live_dashboards
from bench.web import main as web_main
from bench.webhook import compare as compare_webhook
from bench.webhook import format_table as format_webhook

PARTS = ("exporter", "web", "exposition", "charts", "chart_e2e", "dashboards",
         "live_dashboards", "webhook", "burst")  # fmt: skip


def _parts(text: str) -> set[str]:
    names = {p.strip() for p in text.split(",") if p.strip()}
    unknown = names - set(PARTS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 1 when an alert ack or an alert was lost (targets are only shown)."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", type=_parts, default=set(PARTS),
                        help=f"comma-separated benchmarks to run, of {','.join(PARTS)}")
    parser.add_argument("--skip", type=_parts, default=set(), help="benchmarks not to run")
    parser.add_argument("--scrapes", type=int, default=500, help="scrapes per exporter")
    parser.add_argument("--interleave", action="store_true",
                        help="exporter bench: scrape the two exporters in turns")
    parser.add_argument(
        "--renders", type=int, default=300, help="in-process /metrics writes per writer"
    )
    parser.add_argument("--charts", type=int, default=20,
                        help="chart renders per way at 1k points (half at 100k)")
    parser.add_argument("--chart-requests", type=int, default=42,
                        help="/chart requests end to end (every chart and range in turn)")
    parser.add_argument("--webhook-rate", type=float, default=200.0,
                        help="webhook requests per second (open loop)")
    parser.add_argument("--webhook-seconds", type=float, default=10.0,
                        help="seconds of webhook load per server")
    parser.add_argument("--burst-alerts", type=int, default=1000, help="alerts in the burst")
    args = parser.parse_args(argv)  # fmt: skip
    run = [p for p in PARTS if p in args.only and p not in args.skip]
    status = 0
    for n, part in enumerate(run):
        if n:
            print()
        if part == "exporter":
            status |= exporter_main(args.scrapes, interleave=args.interleave)
        elif part == "web":
            status |= web_main()
        elif part == "exposition":
            print(format_renderers(compare_renderers(args.renders)))
        elif part == "charts":
            print(format_charts(compare_charts(args.charts)))
        elif part == "chart_e2e":
            print(format_e2e(chart_e2e(args.chart_requests)))
        elif part == "dashboards":
            print(format_grid(compare_grid()))
        elif part == "live_dashboards":
            live = live_dashboards()
            print(format_live(live))
            status |= int(live.most_in_5s > 2)  # a burst past the channel budget is a bug
        elif part == "webhook":
            hook = compare_webhook(args.webhook_rate, args.webhook_seconds)
            print(format_webhook(hook))
            status |= int(hook.receiver.ok != hook.receiver.requests)  # a lost ack is a bug
        elif part == "burst":
            burst = compare_burst(args.burst_alerts)
            print(format_burst(burst))
            b = burst.bot
            status |= int(bool(b.lost or b.duplicates or b.rejected_4xx))
        sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
