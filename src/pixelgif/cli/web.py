"""``pixelgif web``: serve the browser UI (needs the ``web`` extra: gradio)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Serve a browser UI for morphs: prompts, seed, frames, model, LoRA and pixel-art settings, a
Generate button, the animation and its settings file to download. The model loads on the first
Generate and stays loaded. Needs gradio: pip install "pixelgif[web]".
"""

EPILOG = """\
examples:
  pixelgif web                      # http://127.0.0.1:7860
  pixelgif web --host 0.0.0.0 --port 8080
  pixelgif web --share              # also a temporary public gradio.live link
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "web",
        help="serve the browser UI (needs pixelgif[web])",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=_port, default=None, help="port (default: gradio's, 7860 or the next free one)")
    parser.add_argument("--share", action="store_true", help="also create a temporary public link through gradio")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from ..web import launch

    launch(host=args.host, port=args.port, share=args.share)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a number from 1 to 65535, got {text!r}")
    return port
