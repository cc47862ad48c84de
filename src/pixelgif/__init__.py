"""pixelgif: text prompts to pixel-art GIFs that morph from one prompt to the next.

The path is ``prompts -> frames -> pixels -> file``; each stage has its own module:
``interpolate`` (pure math), ``pipeline`` (the morph engine over a diffusers pipeline),
``pixelate`` (the pixel-art engine), ``encode`` (GIF and friends).
Heavy modules (torch, diffusers) are imported lazily, so ``import pixelgif`` is cheap.
"""

__version__ = "0.1.0"

from .errors import PixelgifError

__all__ = ["PixelgifError", "__version__"]
