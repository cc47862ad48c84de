"""``PixelateConfig``: every setting of the pixel-art stage, with its defaults and validation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DITHERS = ("auto", "none", "bayer2", "bayer4", "bayer8", "floyd-steinberg", "atkinson")
_DITHER_ALIASES = {
    "bayer": "bayer4",
    "ordered": "bayer4",
    "fs": "floyd-steinberg",
    "floyd_steinberg": "floyd-steinberg",
}
REDUCERS = ("mean", "median", "dominant", "edge")
DEFAULT_PIXEL_SIZE = 8
DEFAULT_COLORS = 16

PaletteSpec = str | os.PathLike | np.ndarray | Sequence[Sequence[int]] | None


@dataclass
class PixelateConfig:
    """Settings for turning frames into pixel art; invalid values raise ValueError on creation.

    grid: output size (width, height) in art pixels; or pixel_size: source pixels per art pixel
    (default 8 when neither is given); or detect_grid: find the grid of upscaled "fake" pixel art.
    colors: palette size 2-256 (default 16, or all colours of ``palette``); with ``palette`` it
    picks the best ``colors`` entries of it. palette: a built-in name, a .gpl/.hex/.pal/.png file,
    or a Kx3 array of sRGB values.
    dither: "auto" (Floyd-Steinberg for one image, Bayer 4x4 for animations since ordered dither is
    stable from frame to frame), "none", "bayer2", "bayer4", "bayer8", "floyd-steinberg" or
    "atkinson"; dither_strength 0-1 scales ordered dithering.
    reducer: how a cell of source pixels becomes one colour: "mean" (in linear light), "median"
    (in OKLab), "dominant" (most common palette colour: crisp, no in-between colours) or "edge"
    (mean weighted towards dark edges, which keeps thin outlines).
    alpha_threshold: source alpha below this is transparent; remove_orphans drops isolated single
    pixels; outline adds a 1-pixel dark outline around the subject on a transparent background.
    """

    grid: tuple[int, int] | None = None
    pixel_size: int | None = None
    colors: int | None = None
    palette: PaletteSpec = None
    dither: str = "auto"
    dither_strength: float = 1.0
    # Ordered dither leaves a colour undithered when it is within this share of the way from its
    # nearest palette colour to the next (0-0.5): flat areas get no speckle, gradients still dither.
    # Settings files from before it replay with 0 (every colour dithered).
    dither_threshold: float = 0.2
    # Share of the palette fit that the keyframes of an animation make up (0-1; 0: each frame
    # counts as much as any other, as before): the keyframes keep their own colours.
    keyframe_share: float = 0.5
    reducer: str = "mean"
    detect_grid: bool = False
    alpha_threshold: int = 128
    remove_orphans: bool = False
    outline: bool = False
    seed: int = 0
    fit_samples: int = 16384

    def __post_init__(self) -> None:
        self._check_grid()
        self._check_dither()
        if self.reducer not in REDUCERS:
            raise ValueError(f"unknown reducer {self.reducer!r}; choose one of: {', '.join(REDUCERS)}")
        if self.reducer == "dominant" and self.dither not in ("auto", "none"):
            raise ValueError(
                "conflicting options: the 'dominant' reducer picks palette colours itself; use dither 'none'"
            )
        if not _is_int(self.alpha_threshold) or not 0 <= self.alpha_threshold <= 255:
            raise ValueError(f"alpha threshold must be an integer from 0 to 255, got {self.alpha_threshold!r}")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not _is_int(self.fit_samples) or self.fit_samples < 256:
            raise ValueError(f"fit_samples must be an integer of at least 256, got {self.fit_samples!r}")
        self._check_colors_and_palette()

    def _check_grid(self) -> None:
        given = [name for name in ("grid", "pixel_size") if getattr(self, name) is not None]
        if self.detect_grid:
            given.append("detect_grid")
        if len(given) > 1:
            raise ValueError(
                f"conflicting options: give only one of grid, pixel size or grid detection (got {', '.join(given)})"
            )
        if self.grid is not None:
            raw: Any = self.grid  # unchecked input: an int or any pair
            grid = (raw, raw) if _is_int(raw) else tuple(raw)
            if len(grid) != 2 or not all(_is_int(v) for v in grid):
                raise ValueError(f"grid must be two integers (width, height), got {self.grid!r}")
            if min(grid) < 1:
                raise ValueError(f"grid must be at least 1x1, got {grid[0]}x{grid[1]}")
            self.grid = (int(grid[0]), int(grid[1]))
        if self.pixel_size is not None and (not _is_int(self.pixel_size) or self.pixel_size < 1):
            raise ValueError(f"pixel size must be a positive integer, got {self.pixel_size!r}")

    def _check_dither(self) -> None:
        name = str(self.dither).lower()
        self.dither = _DITHER_ALIASES.get(name, name)
        if self.dither not in DITHERS:
            raise ValueError(f"unknown dither {self.dither!r}; choose one of: {', '.join(DITHERS)}")
        if not isinstance(self.dither_strength, (int, float)) or not 0.0 <= self.dither_strength <= 1.0:
            raise ValueError(f"dither strength must be a number from 0 to 1, got {self.dither_strength!r}")
        if not isinstance(self.dither_threshold, (int, float)) or not 0.0 <= self.dither_threshold <= 0.5:
            raise ValueError(f"dither threshold must be a number from 0 to 0.5, got {self.dither_threshold!r}")
        if not isinstance(self.keyframe_share, (int, float)) or not 0.0 <= self.keyframe_share < 1.0:
            raise ValueError(f"keyframe share must be a number from 0 to below 1, got {self.keyframe_share!r}")

    def _check_colors_and_palette(self) -> None:
        if self.colors is not None and (not _is_int(self.colors) or not 2 <= self.colors <= 256):
            raise ValueError(f"colors must be an integer from 2 to 256, got {self.colors!r}")
        # Parsed once here so a bad palette fails on creation; kept off the dataclass fields so
        # that asdict() and replace() see only the settings themselves.
        self._palette_rgb = None
        if self.palette is None:
            return
        from .palettes import load_palette

        self._palette_rgb = load_palette(self.palette)
        if self.colors is not None and self.colors > len(self._palette_rgb):
            raise ValueError(f"colors {self.colors} is more than the palette's {len(self._palette_rgb)} colours")

    @property
    def palette_rgb(self) -> np.ndarray | None:
        """Return the user palette as a Kx3 uint8 array, or None when the palette is fitted."""
        return self._palette_rgb

    def grid_for(self, width: int, height: int) -> tuple[int, int]:
        """Return the output grid (width, height) for a source of this size."""
        if self.grid is not None:
            gw, gh = self.grid
        else:
            size = self.pixel_size or DEFAULT_PIXEL_SIZE
            if self.pixel_size is not None and size > min(width, height):
                raise ValueError(f"pixel size {size} is larger than the {width}x{height} image; the largest is "
                                 f"{min(width, height)} (one art pixel across its shorter side)")  # fmt: skip
            gw, gh = max(1, round(width / size)), max(1, round(height / size))
        if gw > width or gh > height:
            raise ValueError(
                f"grid {gw}x{gh} is larger than the image ({width}x{height}); use a smaller grid or pixel size"
            )
        return gw, gh

    def dither_for(self, frame_count: int) -> str:
        """Return the dither method to use for this many frames ("auto" resolved)."""
        if self.dither != "auto":
            return self.dither
        if self.reducer == "dominant":
            return "none"
        return "bayer4" if frame_count > 1 else "floyd-steinberg"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
