"""The pixel-art engine: frames in, true pixel art on one shared palette out (no torch needed).

``pixelate_frames(frames, PixelateConfig(...)) -> PixelArt`` is the whole API; see
``PixelateConfig`` for the settings and docs/ARCHITECTURE.md for the contract.
"""

from .config import PixelateConfig
from .engine import PixelArt, pixelate_frames, pixelate_image
from .palettes import builtin_names, load_palette

__all__ = ["PixelArt", "PixelateConfig", "builtin_names", "load_palette", "pixelate_frames", "pixelate_image"]
