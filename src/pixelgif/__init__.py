"""pixelgif: text prompts to pixel-art GIFs that morph from one prompt to the next.

The path is ``prompts -> frames -> pixels -> file``, one package per stage: ``morph`` (the
engine), ``models`` (the bundled sprite model and diffusers models behind it), ``pixelate``,
``encode``; ``train``, ``batch``, ``cli`` and ``web`` build on them (docs/ARCHITECTURE.md).
Heavy modules (torch, diffusers) are imported lazily, so ``import pixelgif`` is cheap.
"""

__version__ = "0.1.0"

from .errors import PixelgifError

__all__ = ["PixelgifError", "__version__"]
