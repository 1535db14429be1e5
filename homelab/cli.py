"""Pieces both command lines share: the --config option and `check-config`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TypeVar

from homelab import __version__
from homelab.settings import ConfigError, SectionSettings, load_settings, resolve_config_path

S = TypeVar("S", bound=SectionSettings)


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with --version and --config."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (TOML); default $HOMELAB_CONFIG, ./homelab.toml, "
        "/etc/homelab/homelab.toml",
    )
    return parser


def load_or_exit(cls: type[S], config: str | None) -> S:
    """Load settings, or print each bad setting to stderr and exit with status 2."""
    path = resolve_config_path(config)
    try:
        return load_settings(cls, path)
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
    source = str(path) if path else "no file (defaults and environment only)"
    print(f"# settings file: {source}")
    print(json.dumps({cls.section: settings.masked()}, indent=2, default=str))
    print("configuration OK", file=sys.stderr)
    return 0


def default_state_dir() -> Path:
    """Where programs keep state when no setting says otherwise."""
    return Path("var")
