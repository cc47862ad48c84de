"""Frames as numpy arrays for the encoders: palette indices (lossless) or RGB/RGBA pixels."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

ALPHA_THRESHOLD = 128  # GIF has no partial transparency: alpha below this becomes transparent
_SAMPLE_PIXELS = 1 << 20  # pixels used to fit a palette when RGB frames have too many colours


@dataclass
class FrameSet:
    """Equal-sized frames: HxW palette indices when ``palette`` is set, else HxWx3/4 uint8 pixels."""

    arrays: list[np.ndarray]
    palette: np.ndarray | None = None  # Kx3 uint8, K <= 256
    transparent: int | None = None  # palette index shown as see-through
    durations: list[int] = field(default_factory=list)  # ms per frame


def load_frames(frames: Sequence[Image.Image | np.ndarray]) -> FrameSet:
    """Return the frames as arrays, keeping palette indices when all are "P" with one palette."""
    images = [Image.fromarray(f) if isinstance(f, np.ndarray) else f for f in frames]
    if not images:
        raise ValueError("no frames to write")
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise ValueError(f"frame {i} is a {type(image).__name__}, not a PIL image or array")
        if image.size != images[0].size:
            raise ValueError(
                f"frame {i} is {image.size[0]}x{image.size[1]}, frame 0 is "
                f"{images[0].size[0]}x{images[0].size[1]}; all frames must be one size"
            )
    indexed = _shared_palette(images)
    if indexed is not None:
        return indexed
    alpha = any(_has_alpha(image) for image in images)
    mode = "RGBA" if alpha else "RGB"
    return FrameSet([np.asarray(image.convert(mode)) for image in images])


def _shared_palette(images: Sequence[Image.Image]) -> FrameSet | None:
    """Return palette frames if every image is "P" with the same palette and transparency."""
    if any(image.mode != "P" for image in images):
        return None
    first = images[0]
    palette, transparent = first.getpalette() or [], _transparent_index(first)
    if transparent == -1:
        return None  # partial alpha in the palette: only RGBA keeps it
    for image in images[1:]:
        if image.getpalette() != palette or _transparent_index(image) != transparent:
            return None
    arrays = [np.asarray(image) for image in images]
    top = max(int(a.max()) for a in arrays)
    size = max(len(palette) // 3, top + 1, (transparent or 0) + 1)
    table = np.zeros((size, 3), dtype=np.uint8)
    table[: len(palette) // 3] = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    return FrameSet(arrays, table, transparent)


def _transparent_index(image: Image.Image) -> int | None:
    """Return the fully transparent index of a "P" image, None if opaque, -1 if partial alpha."""
    value = image.info.get("transparency")
    if value is None:
        return None
    if isinstance(value, int):
        return value
    alphas = np.frombuffer(bytes(value), dtype=np.uint8)
    zeros = np.flatnonzero(alphas == 0)
    if len(zeros) == 1 and np.isin(alphas, (0, 255)).all():
        return int(zeros[0])
    return None if not len(zeros) and (alphas == 255).all() else -1


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def merge_repeats(frameset: FrameSet) -> FrameSet:
    """Return the frames with each run of identical frames made one, its durations added."""
    arrays, durations = [frameset.arrays[0]], [frameset.durations[0]]
    for array, duration in zip(frameset.arrays[1:], frameset.durations[1:], strict=True):
        if np.array_equal(array, arrays[-1]):
            durations[-1] += duration
        else:
            arrays.append(array)
            durations.append(duration)
    return dataclasses.replace(frameset, arrays=arrays, durations=durations)


def scale_frames(frameset: FrameSet, scale: int) -> FrameSet:
    """Return the frames upscaled ``scale`` times by repeating pixels (nearest neighbour)."""
    if scale == 1:
        return frameset
    arrays = [np.repeat(np.repeat(a, scale, axis=0), scale, axis=1) for a in frameset.arrays]
    return dataclasses.replace(frameset, arrays=arrays)


def to_indexed(frameset: FrameSet) -> FrameSet:
    """Return palette frames: exact if the pixels have at most 256 colours, else one fitted palette."""
    if frameset.palette is not None:
        return frameset
    stack = np.stack(frameset.arrays)
    opaque = stack[..., 3] >= ALPHA_THRESHOLD if stack.shape[-1] == 4 else np.ones(stack.shape[:3], bool)
    rgb = stack[..., :3][opaque]
    transparent = None if opaque.all() else 0
    limit = 256 if transparent is None else 255
    colours, inverse = np.unique(_pack(rgb), return_inverse=True)
    if len(colours) <= limit:
        palette = _unpack(colours)
    else:
        palette, inverse = _fit_palette(rgb, limit)
    offset = 0 if transparent is None else 1  # index 0 is the transparent one
    indices = np.zeros(stack.shape[:3], dtype=np.uint8)
    indices[opaque] = inverse.reshape(-1) + offset
    if transparent is not None:
        palette = np.concatenate([np.zeros((1, 3), np.uint8), palette])
    return dataclasses.replace(frameset, arrays=list(indices), palette=palette, transparent=transparent)


def _fit_palette(rgb: np.ndarray, colours: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a palette of at most ``colours`` fitted to all pixels, and each pixel's index."""
    step = max(1, len(rgb) // _SAMPLE_PIXELS)
    sample = Image.fromarray(np.ascontiguousarray(rgb[::step]).reshape(1, -1, 3))
    fitted = sample.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    mapped = Image.fromarray(np.ascontiguousarray(rgb).reshape(1, -1, 3)).quantize(
        palette=fitted, dither=Image.Dither.NONE
    )
    palette = np.asarray(fitted.getpalette(), dtype=np.uint8).reshape(-1, 3)[:colours]
    return palette, np.asarray(mapped).reshape(-1)


def to_rgba(frameset: FrameSet, background: tuple[int, int, int] | None = None) -> FrameSet:
    """Return pixel frames (RGBA if any pixel is transparent); with ``background``, opaque RGB."""
    arrays = frameset.arrays
    if frameset.palette is not None:
        lut = np.concatenate([frameset.palette, np.full((len(frameset.palette), 1), 255, np.uint8)], 1)
        if frameset.transparent is not None:
            lut[frameset.transparent] = 0
        else:
            lut = lut[:, :3]
        arrays = [lut[a] for a in arrays]
    if background is not None:
        arrays = [_flatten(a, background) for a in arrays]
    return dataclasses.replace(frameset, arrays=arrays, palette=None, transparent=None)


def _flatten(array: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Return an RGB array: RGBA composited over ``background``."""
    if array.shape[-1] == 3:
        return array
    alpha = array[..., 3:].astype(np.uint16)
    rgb = array[..., :3] * alpha + np.asarray(background, np.uint16) * (255 - alpha)
    return ((rgb + 127) // 255).astype(np.uint8)


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(packed: np.ndarray) -> np.ndarray:
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1).astype(np.uint8)
