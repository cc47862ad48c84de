"""Argument types and error handling shared by the commands."""

from __future__ import annotations

import argparse
import sys


def format_name(text: str) -> str:
    """Return the format called ``text`` (an argparse type)."""
    from ..encode import lookup

    try:
        return lookup(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_help() -> str:
    """Return the --format help: every format with its description."""
    from ..encode import FORMATS

    return "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values()) + " (default: from -o)"


def grid_size(text: str) -> tuple[int, int]:
    """Return (width, height) of "64x48" or "64" (an argparse type over `pixelgif.options.parse_grid`)."""
    from ..options import parse_grid

    try:
        return parse_grid(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def one_line_error(parser):
    """Return an argparse ``error`` that prints one line and exits 2, as every other error is one line."""

    def error(message: str):
        print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
        sys.exit(2)

    return error
