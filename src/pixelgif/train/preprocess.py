"""Training images: explicit mode conversion, pixel-art-aware resizing, centre/random crops, flips.

``auto`` resizing (the default) keeps pixel art crisp: an image that is an exact whole-number
upscale of a smaller one is first reduced to its true art pixels, and art smaller than the
training size is scaled up by a whole factor with nearest-neighbour (then cropped), so every art
pixel stays the same size; other images (photos, paintings) are resized with Lanczos.
No torch here.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

RESAMPLE = {
    "auto": None,
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
CROPS = ("center", "random")
# Transparent sprite pixels become this colour: white is the usual sprite-sheet background, and
# keeping whatever RGB hides under alpha 0 (often black or noise) would teach the LoRA that instead.
BACKGROUND = (255, 255, 255)
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_MAX_BLOCK = 64  # the biggest art-pixel size that reduce_upscaled looks for


class UnsupportedMode(ValueError):
    """An image mode that has no faithful RGB conversion."""


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as 8-bit RGB: alpha laid over white, 16-bit/float greys scaled, CMYK/YCbCr/LAB converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _ALPHA_MODES or (mode in ("P", "L") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        # 16-bit or float greys: PIL's own convert clips them to 0..255 instead of scaling.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0) if mode.startswith("I") else 1.0
        grey = np.clip(values / top * 255.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        lab_to_srgb = ImageCms.buildTransform(lab, srgb, "LAB", "RGB")
        converted = ImageCms.applyTransform(image, lab_to_srgb)
        assert converted is not None  # None only for inPlace=True
        return converted
    if mode in ("1", "L", "P", "CMYK", "YCbCr", "RGBX", "HSV"):
        return image.convert("RGB")
    raise UnsupportedMode(f"image mode {mode!r} cannot be converted to RGB")


def reduce_upscaled(image: Image.Image) -> tuple[Image.Image, int]:
    """Return (the image at its true pixel size, the factor it was scaled up by): 1 when it is no exact upscale."""
    pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    for factor in range(min(math.gcd(width, height), _MAX_BLOCK), 1, -1):
        if width % factor or height % factor:
            continue
        small = pixels[::factor, ::factor]
        if np.array_equal(np.repeat(np.repeat(small, factor, 0), factor, 1), pixels):
            return Image.fromarray(small), factor
    return image, 1


def resize(image: Image.Image, resolution: int, resample: str = "auto") -> Image.Image:
    """Return ``image`` scaled so that its short side is at least ``resolution`` (exactly, unless pixel art)."""
    if resample == "auto":
        small, factor = reduce_upscaled(image)
        if factor > 1 or min(image.size) < resolution:
            # Pixel art: a whole-number nearest-neighbour scale up to at least the training size.
            scale = max(1, math.ceil(resolution / min(small.size)))
            return small.resize((small.width * scale, small.height * scale), Image.Resampling.NEAREST)
        return _resize_short_side(image, resolution, Image.Resampling.LANCZOS)
    width, height = image.size
    short = min(width, height)
    if short < resolution and resample == "nearest" and resolution // short >= 2:
        # A whole-number factor first keeps every art pixel the same size; only the rest is fractional.
        factor = resolution // short
        image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    return _resize_short_side(image, resolution, RESAMPLE[resample])


def _resize_short_side(image: Image.Image, resolution: int, resample) -> Image.Image:
    """Return ``image`` with its short side exactly ``resolution``."""
    width, height = image.size
    short = min(width, height)
    if short == resolution:
        return image
    scale = resolution / short
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    return image.resize(size, resample)


def crop_square(image: Image.Image, resolution: int, corner: tuple[int, int] | None = None,
                flip: bool = False) -> np.ndarray:  # fmt: skip
    """Return the ``resolution`` square of ``image`` at ``corner`` (left, top; None: the centre) as uint8 RGB.

    ``flip`` mirrors it left to right.
    """
    width, height = image.size
    left, top = corner if corner is not None else ((width - resolution) // 2, (height - resolution) // 2)
    image = image.crop((left, top, left + resolution, top + resolution))
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(image)


def resize_and_crop(image: Image.Image, resolution: int, resample: str = "auto") -> Image.Image:
    """Return ``image`` as RGB, resized as ``resize`` does and centre-cropped to a ``resolution`` square."""
    return Image.fromarray(crop_square(resize(to_rgb(image), resolution, resample), resolution))
