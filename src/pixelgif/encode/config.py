"""How frames become a file: ``EncodeConfig`` (every default of the encode stage) and the display scale."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..checks import check_bool, check_int, is_whole
from ..errors import PixelgifError
from .formats import FORMATS, format_for_suffix, lookup

MIN_DURATION_MS = 10  # GIF stores hundredths of a second
MAX_DURATION_MS = 60_000
MAX_SCALE = 64
MAX_SIDE = 65_535  # GIF and APNG store sizes in 16 bits
AUTO_SCALE_MIN_SIDE = 256  # pixels: an automatic scale makes small art at least this wide


@dataclass
class EncodeConfig:
    """How frames become a file. Every default lives here; ``__post_init__`` validates."""

    duration: int | tuple[int, ...] = 100  # ms per frame: one value, or one per input frame
    hold: int = 0  # extra ms on each keyframe (indices given to write_animation)
    loop: int = 0  # how many times the animation plays; 0 = forever (GIF stores loop - 1 repeats)
    boomerang: bool = False  # play forward then backward, without repeating the two ends
    scale: int = 1  # nearest-neighbour upscale factor, so art pixels stay crisp
    format: str | None = None  # a name in FORMATS; None = from the output's suffix (none: frames)
    optimize: bool = True  # merge repeated frames; GIF: changed rectangles only
    gifsicle: bool = False  # GIF: also run `gifsicle -O3` (lossless) if it is installed
    # GIF: keep palette indices and order exactly (Aseprite imports the palette as made). Off: the
    # colour table holds only the colours drawn, reordered for shorter codes; pixels stay exact.
    keep_palette_order: bool = False

    def __post_init__(self) -> None:
        self.duration = _check_duration(self.duration)
        self.hold = check_int("hold", self.hold, 0, MAX_DURATION_MS, "milliseconds added on keyframes")
        self.loop = check_int("loop", self.loop, 0, 65_535, "plays; 0 means forever")
        self.scale = check_int("scale", self.scale, 1, MAX_SCALE, "a whole upscale factor")
        for name in ("boomerang", "optimize", "gifsicle", "keep_palette_order"):
            check_bool(name, getattr(self, name))
        if self.format is not None:
            self.format = lookup(str(self.format)).name

    def resolve_format(self, path: str | os.PathLike) -> str:
        """Return the output format: ``format`` if set, else the one named by the suffix.

        A path without a suffix, or an existing folder, is a folder of PNG frames.
        """
        if self.format is not None:
            fmt = FORMATS[self.format]
        elif Path(path).is_dir():
            fmt = format_for_suffix("")
        else:
            fmt = format_for_suffix(Path(path).suffix.lower(), path)
        if fmt.suffix_required and Path(path).suffix.lower() not in fmt.suffixes:
            raise PixelgifError(
                f"a {fmt.name} is a {' or '.join(fmt.suffixes)} file ({fmt.description}), got {str(path)!r}"
            )
        return fmt.name

    def durations(self, count: int, keyframes: Iterable[int] = ()) -> list[int]:
        """Return the milliseconds of each of ``count`` input frames, holds included."""
        if isinstance(self.duration, tuple):
            if len(self.duration) != count:
                raise ValueError(f"duration lists {len(self.duration)} values but there are {count} frames")
            durations = list(self.duration)
        else:
            durations = [self.duration] * count
        keys = set()
        for key in keyframes:
            if not is_whole(key) or not -count <= key < count:
                raise ValueError(f"keyframe index {key!r} is out of range for {count} frames")
            keys.add(int(key) % count)  # -1 and count-1 are one keyframe, held once
        for key in keys:
            durations[key] += self.hold
        return durations


def auto_scale(art_width: int, render_width: int | None = None, min_side: int = AUTO_SCALE_MIN_SIDE) -> int:
    """Return a display scale for art ``art_width`` pixels wide: back to ``render_width``, and at
    least ``min_side`` pixels wide, capped at the largest allowed scale."""
    back = round(render_width / art_width) if render_width else 1
    return max(1, min(MAX_SCALE, max(back, -(-min_side // art_width))))


def _check_duration(value) -> int | tuple[int, ...]:
    """Return the duration as an int or a tuple of ints, each a valid frame time in ms."""
    what = f"milliseconds per frame; at least {MIN_DURATION_MS}"
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("duration list is empty; give one value per frame or a single number")
        return tuple(check_int("duration", v, MIN_DURATION_MS, MAX_DURATION_MS, what) for v in value)
    return check_int("duration", value, MIN_DURATION_MS, MAX_DURATION_MS, what)
