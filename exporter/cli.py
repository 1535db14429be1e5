"""Command line of homelab-exporter."""

from __future__ import annotations

import argparse
import sys

from exporter.settings import ExporterSettings
from homelab import logs
from homelab.cli import base_parser, check_config, load_or_exit
from homelab.settings import secrets_of


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for --help)."""
    parser = base_parser(
        "homelab-exporter",
        "Publish this host's metrics for Prometheus (node_exporter names) and InfluxDB "
        "(Telegraf schema).",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="serve /metrics and write to InfluxDB")
    sub.add_parser("check-config", help="print the effective settings, secrets masked")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(ExporterSettings, args.config)
    if args.command is None:
        # A service manager starting the bare command must see a failure, not a quiet exit 0.
        build_parser().print_help(sys.stderr)
        print("homelab-exporter: error: name a command; to serve metrics: homelab-exporter run",
              file=sys.stderr)
        return 2
    settings = load_or_exit(ExporterSettings, args.config)
    logs.configure(settings.log_level, secrets=secrets_of(settings))
    from exporter.app import run  # keep --help and check-config light

    return run(settings)
