"""From source pixels to a grid of cells: cell edges, cell reducers and fake-pixel-art detection.

Reducers take ``rgb`` (N, H, W, 3) uint8 and ``opaque`` (N, H, W) bool or None, plus cell edges
along x and y, and return (cell colours in OKLab (N, gh, gw, 3), opaque coverage (N, gh, gw)).
Transparent source pixels never contribute to a cell's colour.
"""

from __future__ import annotations

import numpy as np

from ..numba_jit import HAVE_NUMBA, compile_for
from . import color
from .color import linear_to_oklab, srgb8_to_linear, srgb8_to_oklab
from .kernels import box_sums


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
        return np.broadcast_to(area, (n, *area.shape)), np.ones((n, *area.shape), np.float32)
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
    if not HAVE_NUMBA:
        return reduce_weighted_mean(rgb, opaque, x_edges, y_edges)
    # One compiled pass instead of a float copy of every pixel plus two reductions (~5x faster).
    n, gh, gw = len(rgb), len(y_edges) - 1, len(x_edges) - 1
    sums = np.zeros((n, gh, gw, 3), dtype=np.float64)
    mass = np.zeros((n, gh, gw), dtype=np.float64)
    if compile_for(rgb.size, numpy_twin=True):
        mask = opaque if opaque is not None else np.ones((1, 1, 1), dtype=np.bool_)
        x_cell = np.repeat(np.arange(gw), np.diff(x_edges))
        y_cell = np.repeat(np.arange(gh), np.diff(y_edges))
        box_sums(
            np.ascontiguousarray(rgb),
            np.ascontiguousarray(mask),
            opaque is not None,
            x_cell,
            y_cell,
            color.srgb8_linear_table(),
            sums,
            mass,
        )
    else:
        _box_sums_in_order(rgb, opaque, x_edges, y_edges, color.srgb8_linear_table(), sums, mass)
    mean = (sums / np.maximum(mass, 1e-12)[..., None]).astype(np.float32)
    area = np.outer(np.diff(y_edges), np.diff(x_edges))
    return linear_to_oklab(mean), (mass / area).astype(np.float32)


def _box_sums_in_order(rgb, opaque, x_edges, y_edges, lut, sums, mass) -> None:
    """The numpy twin of ``box_sums``: every cell adds its pixels in the same order (row by row),
    so the sums are the same to the last bit. One numpy step per pixel position within a cell."""
    heights, widths = np.diff(y_edges), np.diff(x_edges)
    linear = lut[rgb]
    for dy in range(int(heights.max(initial=0))):
        ys = np.minimum(y_edges[:-1] + dy, np.maximum(y_edges[1:] - 1, 0))
        for dx in range(int(widths.max(initial=0))):
            xs = np.minimum(x_edges[:-1] + dx, np.maximum(x_edges[1:] - 1, 0))
            take = (dy < heights)[:, None] & (dx < widths)[None, :]
            if opaque is not None:
                take = take & opaque[:, ys[:, None], xs[None, :]]
            sums += np.where(take[..., None], linear[:, ys[:, None], xs[None, :]], 0.0)
            mass += take


def edge_weights(rgb: np.ndarray) -> np.ndarray:
    """Return per-pixel weights that favour the dark side of strong edges (thin outlines).

    Gradient magnitude of OKLab lightness, smoothed so the middle of a 1-pixel line (where the
    gradient itself is zero) is covered, counted only where a pixel is darker than its
    neighbourhood; flat regions keep a small base weight so they reduce to a plain mean.
    """
    from scipy import ndimage  # only this reducer needs scipy (~0.2 s to import)

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
    picked = picked.reshape((n, gh, bh, gw, bw, *values.shape[3:]))
    picked = np.moveaxis(picked, 3, 2)
    return picked.reshape((n, gh, gw, bh * bw, *values.shape[3:]))


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
    n, gh, gw, _s = indices.shape
    cells = np.arange(n * gh * gw).reshape(n, gh, gw, 1)
    flat = (cells * palette_size + indices).reshape(-1)
    weights = None if keep is None else keep.reshape(-1).astype(np.float64)
    counts = np.bincount(flat, weights=weights, minlength=n * gh * gw * palette_size)
    return counts.reshape(n, gh, gw, palette_size).argmax(axis=3).astype(np.int32)


REDUCERS = {"mean": reduce_mean, "median": reduce_median, "edge": reduce_edge}


# --- Detection of the pixel grid of "fake" pixel art (upscaled, maybe blurred or resampled) ---

_MIN_PERIOD = 2.0
_MIN_CELLS = 4
_MIN_SCORE = 0.35  # how periodic the colour changes must be to count as a grid (1.0 = perfect)
# How far the best period must stand out from the 90th percentile of all candidates: smooth photos
# reach a fair score at some long period by chance, but not a lone, prominent peak (measured: <= 1.6).
_MIN_PROMINENCE = 1.8


def _change_profile(lab: np.ndarray, axis: int) -> np.ndarray:
    """Return how much colour changes between neighbouring columns (axis 2) or rows (axis 1)."""
    change = np.abs(np.diff(lab, axis=axis)).sum(axis=-1)
    other = 1 if axis == 2 else 2
    profile = change.mean(axis=(0, other))
    # Keep only the sharpest changes, so smooth gradients inside cells do not blur the comb.
    return np.maximum(profile - np.median(profile), 0.0)


def _periodicity(profile: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Return, per candidate period, the complex comb response (|.| = 1 for a perfect comb)."""
    positions = np.arange(1, len(profile) + 1, dtype=np.float64)  # a change before pixel x+1
    phases = np.exp(2j * np.pi * positions[None, :] / periods[:, None])
    return (phases * profile[None, :]).sum(axis=1) / max(profile.sum(), 1e-12)


def detect_period(profile: np.ndarray, size: int) -> tuple[float, float, float, float]:
    """Return (period, offset of the first cell edge, score, prominence) of the best grid in ``profile``.

    Periods p/2, p/3 of a true period p respond as strongly as p (a comb's harmonics), so the
    largest period that scores near the best is taken; multiples 2p, 3p score low.
    """
    max_period = size / _MIN_CELLS
    if max_period < _MIN_PERIOD or not profile.any():
        return 0.0, 0.0, 0.0, 0.0
    coarse = np.arange(_MIN_PERIOD, max_period + 1e-9, 0.05)
    scores = np.abs(_periodicity(profile, coarse))
    padded = np.concatenate([[-1.0], scores, [-1.0]])
    peaks = np.flatnonzero((scores >= padded[:-2]) & (scores >= padded[2:]) & (scores >= 0.8 * scores.max()))
    best = coarse[peaks[-1]]
    fine = np.arange(max(_MIN_PERIOD, best - 0.05), best + 0.05, 0.002)
    response = _periodicity(profile, fine)
    pick = int(np.argmax(np.abs(response)))
    period = float(fine[pick])
    offset = (np.angle(response[pick]) / (2 * np.pi) * period) % period
    prominence = float(scores.max() / max(np.percentile(scores, 90), 1e-12))
    return period, float(offset), float(np.abs(response[pick])), prominence


def _edges_from_period(period: float, offset: float, size: int) -> np.ndarray:
    """Return cell edges at offset + k * period, merging slivers smaller than half a cell at the ends."""
    inner = offset + period * np.arange(-1, size / period + 2)
    inner = np.round(inner[(inner > period / 2 - 1e-9) & (inner < size - period / 2 + 1e-9)]).astype(np.intp)
    return np.unique(np.concatenate([[0], inner, [size]]))


def detect_grid(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (x edges, y edges) of the pixel grid of upscaled pixel art in (N, H, W, 3) frames.

    Raises ValueError when the frames show no regular grid.
    """
    lab = srgb8_to_oklab(rgb[:1] if len(rgb) > 4 else rgb)
    height, width = rgb.shape[1:3]
    x_period, x_offset, x_score, x_prominence = detect_period(_change_profile(lab, 2), width)
    y_period, y_offset, y_score, y_prominence = detect_period(_change_profile(lab, 1), height)
    if min(x_score, y_score) < _MIN_SCORE or min(x_prominence, y_prominence) < _MIN_PROMINENCE:
        raise ValueError("no pixel grid found in the input; give --pixel-size or --grid instead")
    return _edges_from_period(x_period, x_offset, width), _edges_from_period(y_period, y_offset, height)
