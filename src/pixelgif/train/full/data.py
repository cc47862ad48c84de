"""The data of full training: any image/caption set made into 32x32 RGBA sprites as the bundled model's. No torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ...errors import PixelgifError
from ..data import Example
from ..preprocess import crop_square, reduce_upscaled, to_rgb

SPRITE_SIZE = 32


@dataclass
class SpriteData:
    """A data set ready for the bundled model: sprites (N, 32, 32, 4) uint8 RGBA and one caption each."""

    sprites: np.ndarray
    captions: list[str]


def to_rgba(image: Image.Image) -> Image.Image:
    """Return ``image`` as RGBA, keeping its transparency; modes without alpha go through ``to_rgb``."""
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    return to_rgb(image).convert("RGBA")


def sprite_from_image(image: Image.Image) -> np.ndarray:
    """Return ``image`` as a (32, 32, 4) sprite: art pixels found, centre square, then the bundled data's conversion."""
    from ..bundled.data import to_sprite

    art, _ = reduce_upscaled(to_rgba(image))  # an N-times upscale back to its art pixels
    side = min(art.size)
    square = Image.fromarray(crop_square(art, side), "RGBA")
    if side < SPRITE_SIZE:  # the engine reduces, never enlarges: whole-factor nearest-neighbour first
        scale = math.ceil(SPRITE_SIZE / side)
        square = square.resize((side * scale, side * scale), Image.Resampling.NEAREST)
    return to_sprite(square)


def prepare_data(examples: list[Example]) -> SpriteData:
    """Return the sprites and captions of ``examples``; raise PixelgifError naming an image that fails."""
    sprites = []
    for example in examples:
        image = example.open()
        try:
            sprites.append(sprite_from_image(image))
        except ValueError as exc:
            raise PixelgifError(f"image {example.name}: {exc}") from None
    return SpriteData(np.stack(sprites), [e.caption for e in examples])
