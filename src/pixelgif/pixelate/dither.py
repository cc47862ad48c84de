"""Mapping cell colours to palette indices: nearest, ordered (Bayer) and error diffusion.

All methods work in OKLab. Ordered dithering mixes each colour's two nearest palette colours in
the proportion given by its position between them, thresholded by a Bayer matrix, so a flat area
always gets the same pattern in every frame. Error diffusion (Floyd-Steinberg, Atkinson) runs a
serpentine scan in a numba kernel that is compiled once and cached on disk.
"""

from __future__ import annotations

import numpy as np

from ..numba_jit import compile_for
from .kernels import diffuse_frame, nearest_two
from .palette import nearest_indices, squared_distances

CARRY_FACTOR = 1.0  # see max_carried_error

# (row offset, column offset along the scan direction, weight)
DIFFUSION_KERNELS = {
    "floyd-steinberg": np.array([[0, 1, 7 / 16], [1, -1, 3 / 16], [1, 0, 5 / 16], [1, 1, 1 / 16]]),
    "atkinson": np.array([[0, 1, 1 / 8], [0, 2, 1 / 8], [1, -1, 1 / 8], [1, 0, 1 / 8], [1, 1, 1 / 8], [2, 0, 1 / 8]]),
}


def bayer_matrix(size: int) -> np.ndarray:
    """Return the size x size Bayer index matrix (values 0 .. size*size - 1), size a power of 2."""
    matrix = np.zeros((1, 1), dtype=np.int32)
    while len(matrix) < size:
        matrix = np.block([[4 * matrix, 4 * matrix + 2], [4 * matrix + 3, 4 * matrix + 1]])
    return matrix


def two_nearest(points: np.ndarray, palette_lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (nearest, second nearest) palette indices of each point."""
    first = np.empty(len(points), dtype=np.int32)
    second = np.empty(len(points), dtype=np.int32)
    if compile_for(len(points) * len(palette_lab), numpy_twin=True):  # the numpy path below gives the same indices
        nearest_two(np.ascontiguousarray(points), np.ascontiguousarray(palette_lab), first, second)
        return first, second
    # The first two of a stable argsort of each row: the nearest (first index among ties), then
    # the nearest of the others; found as two argmins over the K x N distances (no sort).
    d2 = squared_distances(points, palette_lab).T  # a fresh array: ours to overwrite
    first[:] = np.argmin(d2, axis=0)
    columns = np.arange(len(points))
    d2[first, columns] = np.inf
    second[:] = np.argmin(d2, axis=0)
    return first, second


def ordered_indices(
    lab: np.ndarray, palette_lab: np.ndarray, size: int, strength: float, undithered: float = 0.0
) -> np.ndarray:
    """Return palette indices for (N, h, w, 3) OKLab colours with Bayer dithering of ``size``.

    ``undithered`` (0-0.5): colours this share of the way or less from their nearest palette colour
    to the next are not dithered (no speckle on flat areas); the rest of the way is stretched so a
    colour midway still gets the full pattern."""
    palette_lab = np.asarray(palette_lab, dtype=np.float64)
    if len(palette_lab) < 2 or strength == 0:
        return nearest_indices(lab, palette_lab)
    n, h, w = lab.shape[:3]
    flat = lab.reshape(-1, 3).astype(np.float64)
    first, second = two_nearest(flat, palette_lab)
    c1, c2 = palette_lab[first], palette_lab[second]
    span = c2 - c1
    # Position of the colour between its nearest (0) and second nearest (0.5 at most) colour.
    t = np.clip(((flat - c1) * span).sum(1) / np.maximum((span**2).sum(1), 1e-12), 0.0, 1.0)
    if undithered > 0:  # t is at most about 0.5 (c1 is the nearest): [undithered, 0.5] becomes [0, 0.5]
        t = np.clip((t - undithered) * 0.5 / max(0.5 - undithered, 1e-6), 0.0, 1.0)
    thresholds = (bayer_matrix(size) + 0.5) / size**2
    tiled = np.tile(thresholds, (h // size + 1, w // size + 1))[:h, :w]
    threshold = 0.5 + strength * (np.broadcast_to(tiled, (n, h, w)).reshape(-1) - 0.5)
    return np.where(t > threshold, second, first).reshape(n, h, w).astype(np.int32)


def max_carried_error(palette_lab: np.ndarray, factor: float = CARRY_FACTOR) -> float:
    """Return the error a pixel may carry: ``factor`` x the median distance between neighbouring palette colours.

    Scaled to the palette so that two far-apart colours (black and white) still dither fully,
    while a close-knit palette cannot be pushed to a distant colour.
    """
    if len(palette_lab) < 2:
        return 0.0
    d2 = ((palette_lab[:, None, :] - palette_lab[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    return float(factor * np.median(np.sqrt(d2.min(axis=1))))


def diffusion_indices(
    lab: np.ndarray, palette_lab: np.ndarray, method: str, solid: np.ndarray | None = None
) -> np.ndarray:
    """Return palette indices for (N, h, w, 3) OKLab colours with serpentine error diffusion.

    Cells where ``solid`` is False (transparent) are skipped and receive no error.
    """
    source = np.ascontiguousarray(lab, dtype=np.float64)
    buffer = source.copy()
    palette = np.ascontiguousarray(palette_lab, dtype=np.float64)
    solid = np.ones(lab.shape[:3], dtype=np.bool_) if solid is None else np.ascontiguousarray(solid, dtype=np.bool_)
    out = np.zeros(lab.shape[:3], dtype=np.int32)
    kernel, max_carry = DIFFUSION_KERNELS[method], max_carried_error(palette)
    work = out.size * len(palette)
    for frame in range(len(buffer)):
        diffuse_frame.run(work, source[frame], buffer[frame], solid[frame], palette, kernel, max_carry, out[frame])
    return out


def dither_indices(
    lab: np.ndarray,
    palette_lab: np.ndarray,
    method: str,
    strength: float = 1.0,
    solid: np.ndarray | None = None,
    threshold: float = 0.0,
) -> np.ndarray:
    """Return (N, h, w) palette indices for OKLab cell colours using ``method``."""
    if method == "none" or len(palette_lab) < 2:
        return nearest_indices(lab, palette_lab)
    if method.startswith("bayer"):
        return ordered_indices(lab, palette_lab, int(method[5:]), strength, threshold)
    if method in DIFFUSION_KERNELS:
        return diffusion_indices(lab, palette_lab, method, solid)
    raise ValueError(f"unknown dither method {method!r}")
