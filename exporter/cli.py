"""Command line of homelab-exporter."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    install = sub.add_parser(
        "install-service",
        help="install this host's systemd service: unit, settings, user, spool (idempotent)",
        description="Write the hardened systemd unit, the settings and secrets files (when "
        "missing), the service user (sysusers.d) and the spool directory, then enable the "
        "unit (and start it when systemd runs). A second run changes nothing and says so. "
        "See docs/install.md.",
    )
    install.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="install into DIR (an image, a test) without touching this host",
    )
    install.add_argument(
        "--dry-run",
        action="store_true",
        help="print every step and every file it would write; change nothing",
    )
    install.add_argument(
        "--no-start", action="store_true", help="enable the unit but do not start or restart it"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(ExporterSettings, args.config)
    if args.command == "install-service":
        return _install_service(Path(args.root), dry_run=args.dry_run, start=not args.no_start)
    if args.command is None:
        # A service manager starting the bare command must see a failure, not a quiet exit 0.
        build_parser().print_help(sys.stderr)
        print(
            "homelab-exporter: error: name a command; to serve metrics: homelab-exporter run",
            file=sys.stderr,
        )
        return 2
    settings = load_or_exit(ExporterSettings, args.config)
    logs.configure(settings.log_level, secrets=secrets_of(settings))
    from exporter.app import run  # keep --help and check-config light

    return run(settings)


def _install_service(root: Path, *, dry_run: bool, start: bool) -> int:
    """`install-service`: each step on stdout; 1 with the reason when a step cannot be done."""
    from exporter.install import InstallError, install

    try:
        report = install(root, dry_run=dry_run, start=start)
    except InstallError as exc:
        print(f"install-service: error: {exc}", file=sys.stderr)
        return 1
    for line in report.lines:
        print(f"install-service: {line}")
    return 0
