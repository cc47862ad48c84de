"""``pixelate_frames``: frames in, pixel art on one shared palette out.

Steps: frames -> (N, H, W, 3) uint8 + opaque mask -> cell colours (reducer) -> one palette fitted
on the opaque cells of ALL frames -> palette indices (dithered or nearest) -> clean-up -> mode "P"
images sharing the palette, with one index reserved for transparency when there is any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .cleanup import add_outline, remove_orphans
from .color import oklab_to_srgb8, srgb8_to_oklab
from .config import DEFAULT_COLORS, PixelateConfig
from .dither import dither_indices
from .grid import REDUCERS, cell_edges, cell_mode, cell_samples
from .palette import best_subset, fit_palette, nearest_indices

MAX_PALETTE = 256


@dataclass
class PixelArt:
    """Pixel art frames: mode "P" images at grid size sharing ``palette`` (Kx3 uint8)."""

    images: list[Image.Image]
    palette: np.ndarray
    transparent_index: int | None

    @property
    def indices(self) -> np.ndarray:
        """Return the palette indices of all frames as an (N, h, w) uint8 array."""
        return np.stack([np.asarray(image) for image in self.images])

    def scaled(self, factor: int) -> list[Image.Image]:
        """Return the images upscaled ``factor`` times with nearest neighbour (palette kept)."""
        if factor == 1:
            return list(self.images)
        out = []
        for image in self.images:
            big = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
            big.info.update(image.info)
            out.append(big)
        return out


def frames_to_arrays(frames: Sequence, alpha_threshold: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (rgb (N, H, W, 3) uint8, opaque (N, H, W) bool or None when nothing is transparent)."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)  # a (N, H, W, C) batch, as pipelines return them
    elif isinstance(frames, (Image.Image, np.ndarray)):
        frames = [frames]
    frames = list(frames)
    if len(frames) == 0:
        raise ValueError("no frames to pixelate")
    arrays = [_as_rgba_array(frame) for frame in frames]
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        sizes = ", ".join(f"{w}x{h}" for h, w in sorted(shapes))
        raise ValueError(f"all frames must have the same size, got {sizes}")
    stacked = np.stack(arrays)
    rgb = np.ascontiguousarray(stacked[..., :3])
    if stacked.shape[-1] == 3:
        return rgb, None
    opaque = stacked[..., 3] >= alpha_threshold
    return rgb, None if opaque.all() else opaque


def _as_rgba_array(frame) -> np.ndarray:
    """Return an HxWx3 or HxWx4 uint8 array for a PIL image or an array (uint8 or float in [0, 1])."""
    if isinstance(frame, Image.Image):
        has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
        return np.asarray(frame.convert("RGBA" if has_alpha else "RGB"))
    array = np.asarray(frame)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"frames must be HxWx3 or HxWx4 arrays, got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"frame arrays must be uint8 or float in [0, 1], got {array.dtype}")
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    return array


def _grid_edges(rgb: np.ndarray, config: PixelateConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return the cell edges along x and y."""
    height, width = rgb.shape[1:3]
    if config.detect_grid:
        from .grid import detect_grid

        return detect_grid(rgb)
    gw, gh = config.grid_for(width, height)
    return cell_edges(width, gw), cell_edges(height, gh)


def _choose_palette(cell_rgb: np.ndarray, config: PixelateConfig, max_colors: int) -> np.ndarray:
    """Return the uint8 palette: fitted, the user's palette, or the best subset of it."""
    user = config.palette_rgb
    if user is None:
        k = min(config.colors or DEFAULT_COLORS, max_colors)
        return fit_palette(cell_rgb, k, config.seed, config.fit_samples)
    k = min(config.colors or len(user), max_colors)
    if k >= len(user):
        return user
    return best_subset(cell_rgb, user, k, config.seed, config.fit_samples)


def _fit_colors(rgb, opaque, lab, solid, config: PixelateConfig) -> np.ndarray:
    """Return the Nx3 uint8 colours the palette is fitted on (opaque ones only)."""
    if not solid.any():
        return np.zeros((1, 3), dtype=np.uint8)  # nothing visible: any one colour will do
    if config.reducer == "dominant":
        # The dominant reducer picks real source colours, so its palette is fitted on source pixels.
        return rgb.reshape(-1, 3) if opaque is None else rgb[opaque]
    return oklab_to_srgb8(lab[solid])


def pixelate_frames(
    frames: Sequence, config: PixelateConfig | None = None, exact: Sequence[int] = (), keyframes: Sequence[int] = ()
) -> PixelArt:
    """Return ``frames`` as pixel art that all share one palette (see ``PixelateConfig``).

    ``keyframes``: indices of the frames that make up ``config.keyframe_share`` of the palette fit
    (an animation's keyframes keep their own colours instead of ceding them to the frames between).

    ``exact``: indices of frames whose own cell colours the fitted palette keeps exactly (when
    they have at most ``colors`` of them) and that are then mapped without dithering, so they come
    back pixel for pixel (the keyframes a user drew). With a user palette they are mapped
    without dithering onto it.
    """
    config = config or PixelateConfig()
    rgb, opaque = frames_to_arrays(frames, config.alpha_threshold)
    x_edges, y_edges = _grid_edges(rgb, config)
    reducer = "mean" if config.reducer == "dominant" else config.reducer
    lab, coverage = REDUCERS[reducer](rgb, opaque, x_edges, y_edges)
    solid = coverage >= 0.5
    has_transparency = not solid.all()
    max_colors = MAX_PALETTE - 1 if has_transparency else MAX_PALETTE

    exact = sorted({int(i) for i in exact})
    fit_colors = _fit_colors(rgb, opaque, lab, solid, config)
    keys = sorted({int(i) for i in keyframes})
    if keys and len(keys) < len(rgb) and config.keyframe_share > 0 and config.palette_rgb is None:
        own = _fit_colors(rgb[keys], None if opaque is None else opaque[keys], lab[keys], solid[keys], config)
        # Repeated so that the keyframes' colours are about keyframe_share of all the colours fitted.
        copies = round(config.keyframe_share / (1 - config.keyframe_share) * (len(fit_colors) - len(own))
                       / max(len(own), 1))  # fmt: skip
        if copies > 1:
            fit_colors = np.concatenate([fit_colors, *[own] * (copies - 1)])
    if exact and config.palette_rgb is None:
        k = min(config.colors or DEFAULT_COLORS, max_colors)
        own = _fit_colors(rgb[exact], None if opaque is None else opaque[exact], lab[exact], solid[exact], config)
        palette = fit_palette(fit_colors, k, config.seed, config.fit_samples, fixed=own)
    else:
        palette = _choose_palette(fit_colors, config, max_colors)
    palette_lab = srgb8_to_oklab(palette)
    if config.reducer == "dominant":
        indices = _dominant_indices(rgb, opaque, x_edges, y_edges, palette_lab)
    else:
        indices = dither_indices(lab, palette_lab, config.dither_for(len(rgb)), config.dither_strength, solid,
                                 config.dither_threshold)  # fmt: skip
        if exact:
            indices[exact] = nearest_indices(lab[exact], palette_lab)

    transparent_index = None
    if has_transparency:
        transparent_index = len(palette)
        palette = np.concatenate([palette, np.zeros((1, 3), np.uint8)])
        indices = np.where(solid, indices, transparent_index)
    if config.remove_orphans:
        indices = remove_orphans(indices)
    if config.outline and transparent_index is not None:
        indices = add_outline(indices, transparent_index, int(np.argmin(palette_lab[:, 0])))
    return PixelArt(_to_images(indices, palette, transparent_index), palette, transparent_index)


def _dominant_indices(rgb, opaque, x_edges, y_edges, palette_lab) -> np.ndarray:
    """Return per-cell palette indices: the most common palette colour among the cell's pixels."""
    samples = cell_samples(rgb, x_edges, y_edges)
    mapped = nearest_indices(srgb8_to_oklab(samples), palette_lab)
    keep = None if opaque is None else cell_samples(opaque, x_edges, y_edges)
    return cell_mode(mapped, keep, len(palette_lab))


def _to_images(indices: np.ndarray, palette: np.ndarray, transparent_index: int | None) -> list[Image.Image]:
    """Return one mode "P" image per frame, all with the same palette."""
    flat_palette = palette.astype(np.uint8).reshape(-1).tolist()
    images = []
    for frame in indices.astype(np.uint8):
        image = _p_image(frame)
        image.putpalette(flat_palette)
        if transparent_index is not None:
            image.info["transparency"] = transparent_index
        images.append(image)
    return images


def _p_image(frame: np.ndarray) -> Image.Image:
    """Return a mode "P" image whose pixel values are exactly ``frame``."""
    image = Image.new("P", (frame.shape[1], frame.shape[0]))
    image.frombytes(np.ascontiguousarray(frame).tobytes())
    return image


def pixelate_image(image, config: PixelateConfig | None = None) -> Image.Image:
    """Return one image as a mode "P" pixel-art image (``pixelate_frames`` for a single frame)."""
    return pixelate_frames([image], config).images[0]
