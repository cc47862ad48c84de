"""``pixelgif serve`` (alias ``pixelgif web``): the local studio page (needs the ``web`` extra: gradio)."""

from __future__ import annotations

import argparse

from .options import whole_number

DESCRIPTION = """\
Serve a local studio page for morphs: a storyboard of keyframes (prompt and seed each, lock or
re-roll seeds, preview just the keyframes, load a settings JSON back), pixel-art, morph and output
settings, a progress bar with Cancel, a viewer that zooms the frames crisp to fit (play, step,
scrub), and downloads in every format plus its settings JSON (which `pixelgif morph --from` reads).
One render at a time; the default model starts loading when the server starts and stays loaded.
Needs gradio: pip install "pixelgif[web]"."""

EPILOG = """\
examples:
  pixelgif serve                      # http://127.0.0.1:7860
  pixelgif serve --host 0.0.0.0 --port 8080
  pixelgif serve --max-frames 64 --max-resolution 512
  pixelgif serve --share              # also a temporary public gradio.live link"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..web.limits import Limits

    limits = Limits()
    parser = subparsers.add_parser(
        "serve", aliases=["web"], help="serve the local studio page (needs pixelgif[web])", description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also create a temporary public link through gradio")
    group = parser.add_argument_group("limits")
    group.add_argument(
        "--max-frames",
        type=_positive,
        default=limits.max_frames,
        metavar="N",
        help=f"most frames one morph may have (default {limits.max_frames})",
    )
    group.add_argument(
        "--max-resolution",
        type=_positive,
        default=limits.max_resolution,
        metavar="PX",
        help=f"largest render width or height in pixels (default {limits.max_resolution})",
    )
    group.add_argument(
        "--max-upload-size",
        type=_kilobytes,
        default=limits.max_upload_bytes,
        metavar="KB",
        help=f"largest upload (a palette or a keyframe image) in KB (default {limits.max_upload_bytes // 1000})",
    )
    group.add_argument(
        "--queue-size",
        type=_positive,
        default=limits.queue_size,
        metavar="N",
        help=f"renders that may wait behind the running one (default {limits.queue_size})",
    )
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    import contextlib
    import faulthandler
    import signal

    from ..web import launch

    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a render that will not stop is doing
    # (not where stderr is no file, e.g. captured).
    if hasattr(signal, "SIGUSR1"):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            faulthandler.register(signal.SIGUSR1, all_threads=True)
    from ..web.limits import Limits

    limits = Limits(max_frames=args.max_frames, max_resolution=args.max_resolution,
                    max_upload_bytes=args.max_upload_size, queue_size=args.queue_size)  # fmt: skip
    launch(host=args.host, port=args.port, share=args.share, limits=limits)
    return 0


def _port(text: str) -> int:
    return int(whole_number(text, 1, 65535, "port"))


def _positive(text: str) -> int:
    return int(whole_number(text))


def _kilobytes(text: str) -> int:
    return _positive(text) * 1000
