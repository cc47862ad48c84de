"""`encode_gif` in a second process that loads numba while this one is still starting up.

Why: before a cold ``pixelgif morph`` can write its GIF, numba has to import and load its cached
LZW kernels (on a fresh install, compile them), while all of the command's start (Python, torch,
the model) runs on one core. A helper process started at the beginning of the command
(``python -m pixelgif.encode.gif.helper``) does that loading on another core at the same time,
then encodes the frames it is sent: the same function, so the same bytes
(``python benchmarks/bundled_speed.py [--first-run]`` shows the time saved).

`start` launches it (when numba is installed and not yet loaded here); `write_gif` hands its
frames to the running helper and encodes them here instead if there is none or it fails. The
helper ignores Ctrl-C (the command's own handling decides) and exits when its input closes, so
it never outlives the command.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import struct
import subprocess
import sys
from typing import Any

ENV_SWITCH = "PIXELGIF_GIF_HELPER"  # "0": never start one
_LENGTH = struct.Struct("<Q")


class GifHelper:
    """A running helper process; `encode` returns `encode_gif`'s bytes or None if the helper failed."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def encode(self, *args: Any, **kwargs: Any) -> bytes | None:
        """Return ``encode_gif(*args, **kwargs)`` computed by the helper, or None (then it is closed)."""
        try:
            _send(self.process.stdin, (args, kwargs))
            ok, value = _receive(self.process.stdout)
        except (OSError, EOFError, pickle.PickleError, struct.error):
            ok, value = False, None
        if not ok:
            self.close()
            return None
        return value

    def close(self, now: bool = False) -> None:
        """End the helper: it exits when its input closes; ``now`` stops it at once (it may still be
        loading numba, which an exiting command should not wait for)."""
        try:
            if self.process.stdin:
                self.process.stdin.close()
        except OSError:
            pass
        if now:
            self.process.kill()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_running: GifHelper | None = None


def start() -> GifHelper | None:
    """Start the helper for the next `write_gif` and return it, or None when it would not help
    (numba missing or already loaded here, ``PIXELGIF_GIF_HELPER=0``) or cannot start."""
    global _running
    from ...numba_jit import HAVE_NUMBA

    if _running is not None:
        return _running
    if os.environ.get(ENV_SWITCH, "1") == "0" or not HAVE_NUMBA or "numba" in sys.modules:
        return None
    try:
        _running = GifHelper()
    except OSError:
        return None
    atexit.register(_close_unused)
    return _running


def _close_unused() -> None:
    helper = take()
    if helper is not None:  # the command ended before writing its GIF (an error, Ctrl-C)
        helper.close(now=True)


def take() -> GifHelper | None:
    """Return the started helper and forget it (one GIF each), or None."""
    global _running
    helper, _running = _running, None
    return helper


def _send(stream, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _LENGTH.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe")
    return pickle.loads(data)


def warm_up() -> None:
    """Load numba and every LZW kernel the writer uses (compiling them the first time) by encoding a tiny animation."""
    import numpy as np

    from .writer import encode_gif

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 4, (8, 8), dtype=np.uint8) for _ in range(3)]
    palette = np.arange(12, dtype=np.uint8).reshape(4, 3)
    encode_gif(frames, palette, [100] * 3, transparent=0, compact=True)


def main() -> None:
    """Serve `encode_gif` calls from stdin until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries the replies: anything printed goes elsewhere
    warm_up()
    from .writer import encode_gif

    while True:
        try:
            args, kwargs = _receive(stdin)
        except EOFError:
            return
        try:
            reply: tuple[bool, Any] = (True, encode_gif(*args, **kwargs))
        except Exception as exc:  # the caller encodes again itself, and reports any error
            reply = (False, repr(exc))
        _send(stdout, reply)


if __name__ == "__main__":
    main()
    # Its replies are sent and flushed: skip the interpreter's teardown (numba's and LLVM's
    # finalizers, ~0.4 s), which the command would otherwise wait for before it exits.
    os._exit(0)
