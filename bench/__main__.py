"""`python -m bench`: every benchmark, printed as ratios against its same-run baseline."""

from __future__ import annotations

import argparse
import sys

from bench.charts import compare_charts, format_charts
from bench.exporter import main as exporter_main
from bench.exposition import compare_renderers, format_renderers


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scrapes", type=int, default=500, help="scrapes per exporter")
    parser.add_argument(
        "--renders", type=int, default=300, help="in-process /metrics writes per writer"
    )
    parser.add_argument(
        "--charts", type=int, default=20, help="chart renders per way at 1k points (half at 100k)"
    )
    args = parser.parse_args(argv)
    status = exporter_main(args.scrapes)
    print()
    print(format_renderers(compare_renderers(args.renders)))
    print()
    print(format_charts(compare_charts(args.charts)))
    return status


if __name__ == "__main__":
    sys.exit(main())
