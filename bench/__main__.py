"""`python -m bench`: every benchmark, printed as ratios against its same-run baseline."""

from __future__ import annotations

import argparse
import sys

from bench.exporter import main as exporter_main


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scrapes", type=int, default=500, help="scrapes per exporter")
    args = parser.parse_args(argv)
    return exporter_main(args.scrapes)


if __name__ == "__main__":
    sys.exit(main())
