"""From source pixels to a grid of cells: cell edges, cell reducers and fake-pixel-art detection.

Reducers take ``rgb`` (N, H, W, 3) uint8 and ``opaque`` (N, H, W) bool or None, plus cell edges
along x and y, and return (cell colours in OKLab (N, gh, gw, 3), opaque coverage (N, gh, gw)).
Transparent source pixels never contribute to a cell's colour.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .color import linear_to_oklab, srgb8_to_linear, srgb8_to_oklab


def cell_edges(size: int, cells: int) -> np.ndarray:
    """Return ``cells + 1`` increasing integer edges splitting ``size`` pixels into even cells."""
    return np.round(np.linspace(0, size, cells + 1)).astype(np.intp)


def _box_sum(values: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> np.ndarray:
    """Return per-cell sums of ``values`` (N, H, W, ...) over the cells given by the edges."""
    rows = np.add.reduceat(values, y_edges[:-1], axis=1)
    return np.add.reduceat(rows, x_edges[:-1], axis=2)


def _coverage(opaque, x_edges, y_edges, n) -> tuple[np.ndarray, np.ndarray]:
    """Return (opaque pixel count per cell, opaque fraction per cell)."""
    area = np.outer(np.diff(y_edges), np.diff(x_edges)).astype(np.float32)
    if opaque is None:
        return np.broadcast_to(area, (n,) + area.shape), np.ones((n,) + area.shape, np.float32)
    counts = _box_sum(opaque.astype(np.float32), x_edges, y_edges)
    return counts, counts / area


def reduce_weighted_mean(rgb, opaque, x_edges, y_edges, weights=None):
    """Return (OKLab, coverage) of each cell's mean in linear light, optionally weighted per pixel."""
    linear = srgb8_to_linear(rgb)
    mask = None if opaque is None else opaque.astype(np.float32)
    if weights is not None:
        mask = weights if mask is None else mask * weights
    if mask is not None:
        linear = linear * mask[..., None]
    sums = _box_sum(linear, x_edges, y_edges)
    mass = _box_sum(mask, x_edges, y_edges) if mask is not None else _coverage(None, x_edges, y_edges, len(rgb))[0]
    mean = sums / np.maximum(mass, 1e-12)[..., None]
    return linear_to_oklab(mean), _coverage(opaque, x_edges, y_edges, len(rgb))[1]


def reduce_mean(rgb, opaque, x_edges, y_edges):
    """Return (OKLab, coverage) of each cell's mean colour in linear light."""
    return reduce_weighted_mean(rgb, opaque, x_edges, y_edges)


def edge_weights(rgb: np.ndarray) -> np.ndarray:
    """Return per-pixel weights that favour the dark side of strong edges (thin outlines).

    Gradient magnitude of OKLab lightness, smoothed so the middle of a 1-pixel line (where the
    gradient itself is zero) is covered, counted only where a pixel is darker than its
    neighbourhood; flat regions keep a small base weight so they reduce to a plain mean.
    """
    lightness = srgb8_to_oklab(rgb)[..., 0]
    gradient = np.hypot(ndimage.sobel(lightness, axis=1), ndimage.sobel(lightness, axis=2))
    gradient = ndimage.gaussian_filter(gradient, sigma=(0, 1, 1))
    darker = lightness < ndimage.uniform_filter(lightness, size=(1, 3, 3))
    base = 0.05 * gradient.mean(axis=(1, 2), keepdims=True) + 1e-6
    return (base + gradient * darker).astype(np.float32)


def reduce_edge(rgb, opaque, x_edges, y_edges):
    """Return (OKLab, coverage) of each cell's edge-weighted mean (keeps thin dark outlines)."""
    return reduce_weighted_mean(rgb, opaque, x_edges, y_edges, edge_weights(rgb))


def cell_samples(values: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> np.ndarray:
    """Return (N, gh, gw, S, ...) evenly spaced samples from every cell (all pixels of even cells)."""
    def positions(edges):
        span = int(np.diff(edges).max())
        offsets = np.floor((np.arange(span) + 0.5)[None, :] * np.diff(edges)[:, None] / span)
        return (edges[:-1, None] + offsets).astype(np.intp), span

    ys, bh = positions(y_edges)
    xs, bw = positions(x_edges)
    picked = values[:, ys.reshape(-1)][:, :, xs.reshape(-1)]
    n, gh, gw = len(values), len(ys), len(xs)
    picked = picked.reshape((n, gh, bh, gw, bw) + values.shape[3:])
    picked = np.moveaxis(picked, 3, 2)
    return picked.reshape((n, gh, gw, bh * bw) + values.shape[3:])


def reduce_median(rgb, opaque, x_edges, y_edges):
    """Return (OKLab, coverage) of each cell's per-channel median in OKLab (ignores transparency)."""
    lab = srgb8_to_oklab(cell_samples(rgb, x_edges, y_edges))
    if opaque is None:
        median = np.median(lab, axis=3)
    else:
        keep = cell_samples(opaque, x_edges, y_edges)
        lab[~keep] = np.nan
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-transparent cells
                median = np.nan_to_num(np.nanmedian(lab, axis=3))
    return median.astype(np.float32), _coverage(opaque, x_edges, y_edges, len(rgb))[1]


def cell_mode(indices: np.ndarray, keep: np.ndarray | None, palette_size: int) -> np.ndarray:
    """Return the most common palette index per cell of (N, gh, gw, S) samples."""
    n, gh, gw, s = indices.shape
    cells = np.arange(n * gh * gw).reshape(n, gh, gw, 1)
    flat = (cells * palette_size + indices).reshape(-1)
    weights = None if keep is None else keep.reshape(-1).astype(np.float64)
    counts = np.bincount(flat, weights=weights, minlength=n * gh * gw * palette_size)
    return counts.reshape(n, gh, gw, palette_size).argmax(axis=3).astype(np.int32)


REDUCERS = {"mean": reduce_mean, "median": reduce_median, "edge": reduce_edge}
