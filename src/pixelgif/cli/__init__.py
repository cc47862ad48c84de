"""The ``pixelgif`` command: parse, one call into the API, show the result.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
modules import torch and friends inside ``run`` so that ``pixelgif --help`` and
``pixelgif pixelate`` stay fast. Library errors become one-line messages here, in one place.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys

from .. import __version__
from ..errors import format_error

__all__ = ["COMMANDS", "build_parser", "entry", "format_error", "main"]

# Subcommand name -> module under pixelgif.cli. Order is the order shown in --help.
COMMANDS = {
    "morph": "morph",
    "batch": "batch",
    "pixelate": "pixelate",
    "models": "models",
    "train": "train",
    "serve": "serve",
}


def _prepare_environment() -> None:
    # CPU torch on small machines stalls in OpenMP busy-waiting (~15x slower) unless told to
    # sleep; this must be set before torch loads its OpenMP runtime.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelgif",
        description="Text prompts to pixel-art GIFs that morph from one prompt to the next.",
        epilog='Example: pixelgif morph "a red dragon" "a blue whale" -o dragon.gif',
    )
    parser.add_argument("--version", action="version", version=f"pixelgif {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module_name}":
                continue  # command not built yet
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's) and return its exit code."""
    return _run(argv)[0]


def _run(argv: list[str] | None) -> tuple[int, str | None]:
    """Return `main`'s exit code and the command that ran (None: none did)."""
    _prepare_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2, None
    try:
        return int(args.run(args) or 0), args.command
    except KeyboardInterrupt:
        print("pixelgif: interrupted", file=sys.stderr)
        return 130, args.command
    except BrokenPipeError:
        # The reader went away (pixelgif models | head): stop quietly, as a process that SIGPIPE
        # ends would, and point stdout at nothing so that the exit's flush cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13, args.command
    except Exception as exc:
        if args.debug or os.environ.get("PIXELGIF_DEBUG"):
            raise
        print(f"pixelgif: error: {format_error(exc)}", file=sys.stderr)
        return 1, args.command


# Commands whose every file is written and closed when they return: their process may end at once.
QUICK_EXIT = {"morph", "batch"}


def entry() -> int:
    """Run `main` as a process (the ``pixelgif`` script, ``python -m pixelgif``) and return its exit code.

    Before the interpreter exits, every live object is frozen out of the garbage collector: its
    final collections would otherwise walk torch's and diffusers' whole object graph (~0.8 s of
    a cold morph here). After a `QUICK_EXIT` command the process then ends at once, as the
    interpreter's own exit would begin (thread shutdown, exit handlers, flushed output) but without
    tearing down torch and ONNX Runtime module by module (another ~0.12 s). Tests call `main`.
    """
    try:
        code, command = _run(None)
    finally:
        gc.freeze()
    if command in QUICK_EXIT:
        import atexit
        import threading

        threading._shutdown()  # type: ignore[attr-defined]  # what exiting runs first: joins threads, ends pools
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (pixelgif ... | head)
                stream.flush()
        os._exit(code)
    return code
