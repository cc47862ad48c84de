"""APNG and WebP writers through Pillow: lossless; APNG keeps a shared palette as is."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .frames import FrameSet, scale_frames, to_rgba
from .target import Target

if TYPE_CHECKING:
    from .config import EncodeConfig


def write_apng(frameset: FrameSet, target: Target, config: EncodeConfig) -> None:
    """Write ``frameset`` as an animated PNG (a still PNG for one frame) to ``target``."""
    images, params = _pillow_frames(frameset, config, keep_palette=True)
    if len(images) > 1:
        params.update(save_all=True, append_images=images[1:], loop=config.loop, default_image=False)
        params["duration"] = frameset.durations
    images[0].save(target.files[0], format="PNG", **params)


def write_webp(frameset: FrameSet, target: Target, config: EncodeConfig) -> None:
    """Write ``frameset`` as a lossless, exact WebP to ``target``."""
    images, params = _pillow_frames(frameset, config, keep_palette=False)
    params.update(lossless=True, quality=100, method=4, exact=True)
    if len(images) > 1:
        params.update(save_all=True, append_images=images[1:], loop=config.loop, duration=frameset.durations)
    images[0].save(target.files[0], format="WEBP", **params)


def _pillow_frames(frameset: FrameSet, config: EncodeConfig, keep_palette: bool) -> tuple[list[Image.Image], dict]:
    """Return scaled PIL images and save parameters (palette frames stay "P" if ``keep_palette``)."""
    if keep_palette and frameset.palette is not None:
        palette = frameset.palette.tobytes()
        frameset = scale_frames(frameset, config.scale)
        images = [p_image(array, palette) for array in frameset.arrays]
        params = {} if frameset.transparent is None else {"transparency": frameset.transparent}
        return images, params
    rgba = scale_frames(to_rgba(frameset), config.scale)
    return [Image.fromarray(a) for a in rgba.arrays], {}


def p_image(indices: np.ndarray, palette: bytes) -> Image.Image:
    """Return a mode "P" image of ``indices`` with ``palette`` (RGB bytes)."""
    image = Image.frombytes("P", (indices.shape[1], indices.shape[0]), np.ascontiguousarray(indices).tobytes())
    image.putpalette(palette)
    return image
