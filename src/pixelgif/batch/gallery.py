"""``index.html`` in a batch's folder: every animation, crisp, with its prompts, for review in a browser.

Links are relative, so the folder can be moved, zipped or served as it is. Pixel art is shown at a
whole multiple of its size with ``image-rendering: pixelated`` (nearest neighbour, no blur).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..outputs import atomic_output
from .jobs import GALLERY

MIN_SIDE = 192  # small outputs (a spritesheet at scale 1) are shown at least this tall

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; background: #1d1d22; color: #e8e8ea; }
h1 { font-size: 1.3em; margin: 0 0 .3em; } p.summary { color: #a8a8b0; margin: 0 0 1.2em; }
.grid { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
figure { margin: 0; padding: .6em; background: #2a2a31; border-radius: 6px; max-width: 100%; }
figure img, figure video { display: block; max-width: 100%; height: auto; background: #fff;
  image-rendering: pixelated; image-rendering: crisp-edges; }
figure img { image-rendering: pixelated; }
figcaption { max-width: 320px; margin-top: .5em; word-wrap: break-word; }
figcaption ol { margin: .2em 0; padding-left: 1.4em; } .name { color: #a8a8b0; font-size: .9em; }
.failed { color: #ff8a80; } .failed li { margin: .2em 0; }
"""


@dataclass
class Entry:
    """One job in the gallery: its output (relative to the folder), prompts, and failure if any."""

    line: int
    name: str
    prompts: list[str]
    format: str
    reason: str | None = None  # why it failed; None for a finished job


def write_gallery(outdir: Path, entries: list[Entry], summary: str, bad_lines: Sequence[str] = ()) -> Path:
    """Write ``OUTDIR/index.html`` (atomically) showing ``entries`` in line order; return its path."""
    outdir = Path(outdir)
    done = [e for e in sorted(entries, key=lambda e: e.line) if e.reason is None]
    failed = [f"line {e.line} ({e.name}): {e.reason}" for e in entries if e.reason is not None]
    problems = sorted([*failed, *bad_lines], key=_line_number)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>pixelgif batch: {html.escape(outdir.resolve().name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>pixelgif batch: {html.escape(outdir.resolve().name)}</h1>",
        f'<p class="summary">{html.escape(summary)}</p>',
    ]
    if problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        parts.append(f'<section class="failed"><h2>Not made</h2><ul>{items}</ul></section>')
    parts.append('<main class="grid">')
    parts.extend(_figure(outdir, entry) for entry in done)
    parts.append("</main></body></html>\n")
    path = outdir / GALLERY
    with atomic_output(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path


def _figure(outdir: Path, entry: Entry) -> str:
    link = quote(entry.name)
    title = html.escape(" → ".join(entry.prompts))
    if entry.format == "mp4":
        media = f'<video src="{link}" autoplay loop muted playsinline title="{title}"></video>'
    else:
        image = outdir / entry.name
        if entry.format == "frames":  # a folder of PNGs: its first frame
            image = image / _first_frame(image)
        shown = quote(image.relative_to(outdir).as_posix())
        size = _display_size(image)
        attrs = f' width="{size[0]}" height="{size[1]}"' if size else ""
        media = f'<a href="{link}"><img src="{shown}" alt="{title}" title="{title}"{attrs}></a>'
    prompts = "".join(f"<li>{html.escape(p)}</li>" for p in entry.prompts)
    return (f'<figure data-line="{entry.line}">{media}<figcaption><ol>{prompts}</ol>'
            f'<span class="name">line {entry.line}: <a href="{link}">{html.escape(entry.name)}</a></span>'
            "</figcaption></figure>")  # fmt: skip


def _first_frame(folder: Path) -> str:
    frames = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    return frames[0] if frames else ""


def _display_size(path: Path) -> tuple[int, int] | None:
    """Return the size to show image ``path`` at: its own, times the whole number that makes it at
    least `MIN_SIDE` tall."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError):
        return None
    factor = max(1, -(-MIN_SIDE // max(height, 1)))
    return width * factor, height * factor


def _line_number(text: str) -> int:
    try:
        return int(text.split()[1].rstrip(":"))
    except (IndexError, ValueError):
        return 0
