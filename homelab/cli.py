"""Pieces both command lines share: the --config option and `check-config`."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import TypeVar

from homelab import __version__
from homelab.settings import (
    SEARCH_ORDER,
    ConfigError,
    SectionSettings,
    describe_source,
    load_settings,
    resolve_config_path,
)

S = TypeVar("S", bound=SectionSettings)


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own, never inside a word or path."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            textwrap.fill(
                line,
                width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_on_hyphens=False,
                break_long_words=False,
            )
            for line in text.splitlines()
        )


def settings_epilog() -> str:
    """The --help line naming the settings file in use (for every parser that loads one)."""
    return (
        f"settings (without --config): {describe_source()}\n"
        "Relative paths in a settings file are relative to its directory."
    )


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with --version and --config; its help names the settings file in use."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=HelpFormatter,
        epilog=settings_epilog(),
    )
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"settings file (TOML); the first of {SEARCH_ORDER} that is set or exists",
    )
    return parser


def load_or_exit(cls: type[S], config: str | None, *, resolve_secrets: bool = True) -> S:
    """Load settings, or print each bad setting to stderr and exit with status 2."""
    path = resolve_config_path(config)
    try:
        return load_settings(cls, path, resolve_secrets=resolve_secrets)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def check_config(cls: type[S], config: str | None) -> int:
    """Print the effective settings with secrets masked; 0 when valid, 2 otherwise."""
    path = resolve_config_path(config)
    try:
        settings = load_settings(cls, path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"# settings file: {describe_source(config)}")
    print(json.dumps({cls.section: settings.masked()}, indent=2, default=str))
    print("configuration OK", file=sys.stderr)
    return 0


def default_state_dir() -> Path:
    """Where programs keep state when no setting says otherwise."""
    return Path("var")
