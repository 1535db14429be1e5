"""The command line the gallery tools share: write the gallery into a directory, print each
file written."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def gallery_main(
    prog: str, default_out: str, write_gallery: Callable[[Path], list[Path]], argv: list[str] | None
) -> int:
    """`python -m <prog> [OUT]`: `write_gallery(OUT)` (default `default_out`), paths printed."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("out", nargs="?", default=default_out, type=Path)
    args = parser.parse_args(argv)
    for path in write_gallery(args.out):
        print(path)
    return 0
