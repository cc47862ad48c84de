"""Palette fitting and nearest-colour mapping, all in OKLab.

``fit_palette`` runs weighted k-means (k-means++ seeding with a fixed seed) on the distinct colours
of a subsample; ``best_subset`` picks the best K entries of a user palette; ``nearest_indices``
maps colours to their closest palette entry.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from ..numba_jit import compile_for
from .color import oklab_to_srgb8, srgb8_to_oklab
from .kernels import nearest_two

_MAP_CHUNK = 65536  # rows per chunk when mapping, to bound the N x K distance matrix
# fit_palette's answers to its last calls. The fit is a function of its arguments (fixed seed),
# so an identical call gets the same palette back without the k-means: the final pixelation
# refits what even spacing fitted last, and a morph made again (the studio, batch) refits all of
# its own. A default morph makes about 9 distinct fits, so the memo holds several morphs' worth
# (a memo smaller than one morph's fits would miss every one of them the second time round).
_FIT_MEMO: OrderedDict[bytes, np.ndarray] = OrderedDict()
_FIT_MEMO_SIZE = 64
_FIT_MEMO_LOCK = threading.Lock()


def distinct_colors(rgb8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distinct uint8 colours Mx3, how often each occurs) for an Nx3 uint8 array."""
    rgb8 = np.asarray(rgb8, dtype=np.uint8).reshape(-1, 3)
    packed = (rgb8[:, 0].astype(np.uint32) << 16) | (rgb8[:, 1].astype(np.uint32) << 8) | rgb8[:, 2]
    keys, counts = np.unique(packed, return_counts=True)
    colors = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    return colors, counts


def subsample(rgb8: np.ndarray, max_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Return at most ``max_samples`` rows of ``rgb8`` drawn uniformly without replacement."""
    if len(rgb8) <= max_samples:
        return rgb8
    return rgb8[rng.choice(len(rgb8), size=max_samples, replace=False)]


def nearest_indices(lab: np.ndarray, palette_lab: np.ndarray) -> np.ndarray:
    """Return the index of the nearest palette colour (OKLab distance) for each colour in ``lab``."""
    shape = lab.shape[:-1]
    flat = np.ascontiguousarray(lab.reshape(-1, 3), dtype=np.float64)
    pal = np.ascontiguousarray(palette_lab, dtype=np.float64)
    out = np.empty(len(flat), dtype=np.int32)
    if compile_for(len(flat) * len(pal), numpy_twin=True):  # the numpy path below gives the same indices
        nearest_two(flat, pal, out, np.empty_like(out))
        return out.reshape(shape)
    for start in range(0, len(flat), _MAP_CHUNK):
        chunk = flat[start : start + _MAP_CHUNK]
        out[start : start + len(chunk)] = np.argmin(squared_distances(chunk, pal).T, axis=0)
    return out.reshape(shape)


def squared_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return the NxK matrix of squared distances, summed in the order x, y, z as the compiled kernel does.

    Built one coordinate at a time as a KxN array (contiguous rows of N): about 8x faster than
    broadcasting an NxKx3 array and summing its short last axis, with the same floating-point
    operations in the same order, so bit for bit the same distances (no |x|^2 - 2x.c + |c|^2
    shortcut, whose rounding would move ties). Returned as a (transposed) NxK view.
    """
    dtype = np.result_type(points, centers)  # numpy's own promotion, as broadcasting the two would do
    columns = np.ascontiguousarray(np.asarray(points, dtype=dtype).T)
    centers = np.asarray(centers, dtype=dtype)
    out = columns[0][None, :] - centers[:, 0:1]
    out *= out
    for axis in (1, 2):
        term = columns[axis][None, :] - centers[:, axis : axis + 1]
        term *= term
        out += term
    return out.T


def _kmeans_plus_plus(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, fixed: np.ndarray | None = None
) -> np.ndarray:
    """Return k initial centres chosen by greedy, weighted k-means++ (as in scikit-learn), after the
    ``fixed`` centres (kept first) when given."""
    trials = 2 + int(np.log(k))
    if fixed is not None and len(fixed):
        centers = list(fixed)
        closest = squared_distances(points, np.asarray(fixed)).min(axis=1)
    else:
        centers = [points[rng.choice(len(points), p=weights / weights.sum())]]
        closest = squared_distances(points, centers[0][None])[:, 0]
    for _ in range(len(centers), k):
        potential = weights * closest
        total = potential.sum()
        if total <= 0:  # every point already is a centre
            break
        candidates = rng.choice(len(points), size=trials, p=potential / total)
        cand_d2 = np.minimum(closest[None, :], squared_distances(points, points[candidates]).T)
        best = int(np.argmin((cand_d2 * weights[None, :]).sum(1)))
        centers.append(points[candidates[best]])
        closest = cand_d2[best]
    return np.array(centers)


def kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, seed: int, max_iter: int = 50, fixed: np.ndarray | None = None
) -> np.ndarray:
    """Return up to k cluster centres of weighted ``points`` (Lloyd's algorithm, fixed seed).

    ``fixed``: centres that are part of the answer and never move (returned first); the others
    are fitted around them.
    """
    rng = np.random.default_rng(seed)
    points = points.astype(np.float32)
    weights = weights.astype(np.float64)
    pinned = 0 if fixed is None else len(fixed)
    if len(points) <= k - pinned:
        return points.copy() if not pinned else np.concatenate([np.asarray(fixed, np.float32), points])
    centers = _kmeans_plus_plus(points, weights, k, rng, None if not pinned else np.asarray(fixed, np.float32))
    centers = centers.astype(np.float32)
    k = len(centers)
    for _ in range(max_iter):
        labels = nearest_indices(points, centers)
        mass = np.bincount(labels, weights=weights, minlength=k)
        sums = np.stack([np.bincount(labels, weights=weights * points[:, c], minlength=k) for c in range(3)], 1)
        keep = mass > 0
        keep[:pinned] = False
        new_centers = centers.copy()
        new_centers[keep] = (sums[keep] / mass[keep, None]).astype(np.float32)
        moved = float(np.abs(new_centers - centers).max())
        centers = new_centers
        if moved < 1e-5:
            break
    return centers


def sort_palette(rgb8: np.ndarray) -> np.ndarray:
    """Return the distinct palette colours ordered dark to light (stable and easy to read)."""
    colors, _ = distinct_colors(rgb8)
    lab = srgb8_to_oklab(colors)
    return colors[np.lexsort((lab[:, 2], lab[:, 1], lab[:, 0]))]


def fit_palette(
    rgb8: np.ndarray, k: int, seed: int = 0, max_samples: int = 16384, fixed: np.ndarray | None = None
) -> np.ndarray:
    """Return a uint8 palette (at most k x 3) fitted to the Nx3 uint8 colours ``rgb8``.

    A subsample of at most ``max_samples`` colours is deduplicated and clustered in OKLab with
    weighted k-means, so an input that already has k or fewer colours gets exactly those back.
    ``fixed``: colours the palette must contain exactly (e.g. an input image's own); the other
    entries are fitted around them. With more than k of them they are fitted like the rest.
    """
    rgb8 = np.ascontiguousarray(np.asarray(rgb8).reshape(-1, 3), dtype=np.uint8)
    fixed = None if fixed is None else np.ascontiguousarray(np.asarray(fixed).reshape(-1, 3), dtype=np.uint8)
    hasher = hashlib.sha256(repr((k, seed, max_samples, len(rgb8), None if fixed is None else len(fixed))).encode())
    hasher.update(rgb8.data)
    if fixed is not None:
        hasher.update(fixed.data)
    key = hasher.digest()
    with _FIT_MEMO_LOCK:
        known = _FIT_MEMO.get(key)
        if known is not None:
            _FIT_MEMO.move_to_end(key)
            return known.copy()
    palette = _fit_palette(rgb8, k, seed, max_samples, fixed)
    with _FIT_MEMO_LOCK:
        _FIT_MEMO[key] = palette.copy()
        while len(_FIT_MEMO) > _FIT_MEMO_SIZE:
            _FIT_MEMO.popitem(last=False)
    return palette


def _fit_palette(rgb8: np.ndarray, k: int, seed: int, max_samples: int, fixed: np.ndarray | None) -> np.ndarray:
    """fit_palette without the memo."""
    rng = np.random.default_rng(seed)
    colors, counts = distinct_colors(subsample(rgb8, max_samples, rng))
    pinned = distinct_colors(fixed)[0] if fixed is not None and len(fixed) else np.zeros((0, 3), np.uint8)
    if len(pinned) > k:
        return _fit_palette(np.concatenate([rgb8, pinned]), k, seed, max_samples, None)
    if len(pinned):
        if len(distinct_colors(np.concatenate([colors, pinned]))[0]) <= k:
            return sort_palette(np.concatenate([colors, pinned]))
        if len(pinned) == k:
            return sort_palette(pinned)
        centers = oklab_to_srgb8(kmeans(srgb8_to_oklab(colors), counts, k, seed, fixed=srgb8_to_oklab(pinned)))
        centers[: len(pinned)] = pinned  # exactly, whatever the OKLab round trip does
        return sort_palette(centers)
    if len(colors) <= k:
        return sort_palette(colors)
    centers = kmeans(srgb8_to_oklab(colors), counts, k, seed)
    return sort_palette(oklab_to_srgb8(centers))


def best_subset(
    rgb8: np.ndarray, palette: np.ndarray, k: int, seed: int = 0, max_samples: int = 16384, max_iter: int = 30
) -> np.ndarray:
    """Return the k entries of ``palette`` that best represent the colours ``rgb8``.

    k-means whose centres may only be palette colours: each cluster takes the palette colour
    nearest its weighted mean (which minimises the cluster's squared error among palette colours).
    """
    palette = np.asarray(palette, dtype=np.uint8)
    if k >= len(palette):
        return palette
    rng = np.random.default_rng(seed)
    colors, counts = distinct_colors(subsample(np.asarray(rgb8).reshape(-1, 3), max_samples, rng))
    points, pal_lab = srgb8_to_oklab(colors).astype(np.float64), srgb8_to_oklab(palette).astype(np.float64)
    usage = np.bincount(nearest_indices(points, pal_lab), weights=counts, minlength=len(palette))
    chosen = np.argsort(-usage, kind="stable")[:k]
    for _ in range(max_iter):
        labels = nearest_indices(points, pal_lab[chosen])
        updated = chosen.copy()
        for cluster in range(k):
            members = labels == cluster
            if not members.any():
                continue
            mean = np.average(points[members], axis=0, weights=counts[members])
            order = np.argsort(((pal_lab - mean) ** 2).sum(1))
            taken = set(updated[:cluster]) | set(updated[cluster + 1 :])
            updated[cluster] = next(int(i) for i in order if int(i) not in taken)
        if np.array_equal(updated, chosen):
            break
        chosen = updated
    return palette[np.sort(chosen)]
