"""The output formats, in one registry: each format's name, description, suffixes and writer.

Adding a format means writing its writer (``write(frames, out, config)``, into temporary paths that
``write_animation`` renames into place) and adding one ``Format`` to ``FORMATS`` below; the CLI,
the web UI, the settings file and the encoder read everything else from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PixelgifError
from .gif import write_gif
from .pillow import write_apng, write_webp
from .spritesheet import write_frames_folder, write_spritesheet
from .target import Writer
from .video import find_ffmpeg, write_mp4


@dataclass(frozen=True)
class Format:
    """One output format and the facts every front end needs about it."""

    name: str
    description: str  # one line, shown by --help and the web UI
    label: str  # a short name for buttons
    suffixes: tuple[str, ...]  # the first is the one written by default; "" is a folder
    write: Writer
    detect: bool = True  # the suffixes name this format when no format is given
    suffix_required: bool = False  # an output of this format must have one of its suffixes
    folder: bool = False  # writes a folder of files
    data_suffix: str | None = None  # also writes a data file next to the output, with this suffix
    play_order: bool = True  # frames in play order (boomerang, repeats merged); else as given
    native_scale: bool = False  # automatic scale is 1: game engines want sprites at their own size
    lossless: bool = True
    requires: Callable[[], object] | None = None  # fails before any work when a tool is missing
    aliases: tuple[str, ...] = ()

    @property
    def suffix(self) -> str:
        """Return the suffix this format is written with by default."""
        return self.suffixes[0]

    def paths(self, path: str | os.PathLike) -> list[Path]:
        """Return what this format creates at ``path``: the file (or folder), then its data file."""
        path = Path(path)
        return [path, path.with_suffix(self.data_suffix)] if self.data_suffix else [path]

    def settings_path(self, path: str | os.PathLike) -> Path:
        """Return where the settings of an output at ``path`` go: NAME.json, or NAME.settings.json
        when the format's own data file already is NAME.json (Aseprite's convention)."""
        path = Path(path)
        return path.with_suffix(".settings.json" if self.data_suffix == ".json" else ".json")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("gif", "animated GIF: one shared palette (only the colours drawn), changed rectangles only, lossless (.gif)",
               "GIF", (".gif",), write_gif),
        Format("webp", "animated WebP, lossless (.webp)", "WebP", (".webp",), write_webp),
        Format("apng", "animated PNG, lossless, palette kept (.png or .apng)", "APNG", (".png", ".apng"), write_apng,
               aliases=("png",)),
        Format("mp4", "H.264 video (yuv420p), pixels upscaled sharp, for video sites (.mp4)", "MP4", (".mp4",),
               write_mp4, lossless=False, requires=find_ffmpeg),
        Format("spritesheet", "PNG grid of the frames + Aseprite json-array data for game engines (sheet.png + sheet.json)",
               "spritesheet + JSON (zip)", (".png",), write_spritesheet, detect=False, suffix_required=True,
               data_suffix=".json", play_order=False, native_scale=True),
        Format("frames", "a folder of PNG files, one per frame (a path without a suffix)", "PNG frames (zip)", ("",),
               write_frames_folder, folder=True, play_order=False, native_scale=True),
    )
}  # fmt: skip


def lookup(name: str) -> Format:
    """Return the format called ``name`` (any case, a leading dot or an alias allowed)."""
    key = name.strip().lower().lstrip(".")
    for fmt in FORMATS.values():
        if key == fmt.name or key in fmt.aliases:
            return fmt
    raise ValueError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}")


def format_for_suffix(suffix: str, path: str | os.PathLike | None = None) -> Format:
    """Return the format a file suffix names ("" is a folder of frames); PixelgifError if none does."""
    for fmt in FORMATS.values():
        if fmt.detect and suffix in fmt.suffixes:
            return fmt
    known = ", ".join(f"{s} ({f.name})" for f in FORMATS.values() if f.detect for s in f.suffixes if s)
    raise PixelgifError(
        f"cannot tell the format of {str(path)!r} from its suffix; use one of {known}, a folder (frames), "
        f"or --format {'/'.join(FORMATS)}"
    )
