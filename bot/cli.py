"""Command line of homelab-bot."""

from __future__ import annotations

import argparse

from bot.settings import BotSettings
from homelab.cli import base_parser, check_config


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for --help)."""
    parser = base_parser(
        "homelab-bot",
        "Homelab monitoring and alerting in Discord; a console face runs without a token.",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("check-config", help="print the effective settings, secrets masked")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(BotSettings, args.config)
    build_parser().print_help()
    return 0
