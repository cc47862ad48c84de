"""Shape-aware starts: an in-between starts from its two keyframe drawings moved into each other.

A morph between two drawings that only interpolates noise and text shows a double exposure midway
(two silhouettes cross-fading). Here the opaque pixels of the two drawings are matched one to one
(an optimal assignment, scipy's `linear_sum_assignment`: cost = squared distance on the grid plus
a little OKLab colour distance; the drawing with fewer pixels lends some of them twice, see
`transport`), and frame t is the displacement interpolation: every matched pair of pixels sits at
(1 - t) p + t q with colour (1 - t) c_a + t c_b, splatted back to the grid; the pixels that got
the most mass, as many as the drawing's interpolated pixel count, are opaque. So the silhouette
deforms instead of fading. The engine then noises that picture part way and denoises it (SDEdit):
the model turns the moved pixels into a drawing. `start_timestep` says how far: little next to
the keyframes (the first in-between stays near its keyframe), most midway. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..pixelate.color import linear_to_srgb8, oklab_to_linear, srgb8_to_oklab

OPAQUE = 128  # alpha at or above which a pixel is part of the drawing (as the pixelation reads it)
# Weight of the squared OKLab colour distance against the squared distance in picture widths: a
# red-to-yellow difference (0.3) costs as much as moving 2 pixels of a 32-pixel sprite, so colour
# breaks ties between equally near pixels without pulling pixels across the picture.
COLOUR_COST = 0.05
# Most opaque pixels (geometric mean of the two drawings) for the assignment: its time and the
# cost matrix grow with the product of the two counts (a 64x64 sprite with no background is the limit).
MAX_PIXELS = 64 * 64
# How much a pixel's own mass counts against its neighbourhood's when picking the opaque pixels.
OWN_WEIGHT = 0.55


@dataclass(frozen=True)
class ShapeTransport:
    """The matching of the opaque pixels of two same-size RGBA drawings, as `transport` makes it:
    one entry per matched pair (source and target position, OKLab colour), and the pair's mass in
    the first drawing and in the second (each column sums to 1; in between, mass moves linearly)."""

    size: tuple[int, int]  # (width, height)
    source: np.ndarray  # (M, 2) x, y of the pair's pixel in the first drawing
    target: np.ndarray  # (M, 2) in the second
    source_lab: np.ndarray  # (M, 3) OKLab
    target_lab: np.ndarray
    source_mass: np.ndarray  # (M,) per source pixel, its pairs' masses add up to 1 / counts[0]
    target_mass: np.ndarray  # (M,) per target pixel, 1 / counts[1]
    counts: tuple[int, int]  # opaque pixels in each drawing

    def at(self, t: float) -> Image.Image:
        """Return the drawing a fraction ``t`` of the way (0: the first drawing, 1: the second), RGBA."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be between 0 and 1, got {t}")
        width, height = self.size
        position = (1.0 - t) * self.source + t * self.target
        lab = (1.0 - t) * self.source_lab + t * self.target_lab
        pair_mass = (1.0 - t) * self.source_mass + t * self.target_mass
        # Bilinear splat: each pair's mass goes to the four pixels around where it lands.
        x0, y0 = np.floor(position[:, 0]), np.floor(position[:, 1])
        fx, fy = position[:, 0] - x0, position[:, 1] - y0
        mass = np.zeros(height * width)
        colour = np.zeros((height * width, 3))
        for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                               (1, 1, fx * fy)):  # fmt: skip
            x, y = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
            w = weight * pair_mass
            keep = (w > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
            cell = y[keep] * width + x[keep]
            np.add.at(mass, cell, w[keep])
            np.add.at(colour, cell, w[keep, None] * lab[keep])
        # Pairs spread apart leave pixels inside the shape with little mass (holes), and single
        # pixels in flight land far from the rest (specks): a pixel is judged by its own mass (at
        # most a pixel's worth) and by the mass around it, so a hole inside is filled and a lone
        # pixel is dropped. Colour is a pixel's own, or its neighbours' where it got too little.
        area = max((1.0 - t) * self.counts[0] + t * self.counts[1], 1.0)
        full = 1.0 / area  # one pixel's worth of mass
        grid_mass, grid_colour = mass.reshape(height, width), colour.reshape(height, width, 3)
        smooth_mass, smooth_colour = _smooth(grid_mass), _smooth(grid_colour)
        # At a keyframe every drawn pixel scores >= 0.55 + 0.25 and every other <= 0.75: exact.
        score = (OWN_WEIGHT * np.minimum(grid_mass, full) + smooth_mass).ravel()
        thin = grid_mass < 0.5 * full
        weight = np.where(thin, smooth_mass, grid_mass).ravel()
        colour = np.where(thin[..., None], smooth_colour, grid_colour).reshape(-1, 3)
        # The drawing's area is its pixel count interpolated between the two ends: the pixels that
        # score highest are opaque (binary alpha, as the drawings and the bundled model have; ties
        # broken by position, so the result is the same on every machine).
        order = np.lexsort((np.arange(score.size), -score))
        opaque = np.zeros(score.size, bool)
        opaque[order[: round(area)]] = True
        opaque &= weight > 0
        rgba = np.zeros((height * width, 4), np.uint8)
        rgba[:, :3] = 255  # see-through pixels are white, as the bundled model draws them
        if opaque.any():
            mean = colour[opaque] / weight[opaque, None]
            rgba[opaque, :3] = linear_to_srgb8(np.clip(oklab_to_linear(mean), 0.0, 1.0).astype(np.float32))
            rgba[opaque, 3] = 255
        return Image.fromarray(rgba.reshape(height, width, 4), mode="RGBA")


def _smooth(values: np.ndarray) -> np.ndarray:
    """Return ``values`` (H, W[, C]) averaged over each pixel's 3x3 neighbourhood (1-2-1 weights, zero outside)."""
    padded = np.pad(values, [(1, 1), (1, 1)] + [(0, 0)] * (values.ndim - 2))
    rows = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return 0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]


def has_pixels(image: Image.Image) -> bool:
    """Return True when ``image`` has an opaque pixel (something `transport` can move)."""
    return bool((np.asarray(image.convert("RGBA"))[..., 3] >= OPAQUE).any())


def _pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Return (positions (N, 2) x, y, OKLab (N, 3)) of the opaque pixels of ``image``."""
    array = np.asarray(image.convert("RGBA"))
    ys, xs = np.nonzero(array[..., 3] >= OPAQUE)
    return np.stack([xs, ys], axis=1).astype(np.float64), srgb8_to_oklab(array[ys, xs, :3]).astype(np.float64)


def transport(first: Image.Image, second: Image.Image, colour_cost: float = COLOUR_COST) -> ShapeTransport | None:
    """Return the matching between the opaque pixels of two drawings of the same size, or None when
    either has no opaque pixel (nothing to move) or they have too many (see `MAX_PIXELS`).

    Every pixel of the drawing with more pixels is matched to exactly one of the other's, and every
    pixel of the other to at least one (as evenly as the counts allow). A pixel's pairs share its
    mass, so at t = 0 and t = 1 each drawn pixel holds one pixel's worth and the drawings come
    back exactly. With equal counts this is the optimal transport of uniform masses (the
    least-cost permutation).
    """
    if first.size != second.size:
        raise ValueError(f"drawings must have the same size, got {first.size} and {second.size}")
    (p, lab_p), (q, lab_q) = _pixels(first), _pixels(second)
    if not len(p) or not len(q):
        return None
    if len(p) * len(q) > MAX_PIXELS**2:
        return None  # the assignment's time and memory grow with the product: such frames start from noise
    flip = len(p) > len(q)  # rows are the drawing with fewer pixels
    if flip:
        p, q, lab_p, lab_q = q, p, lab_q, lab_p
    scale = max(first.size)  # the cost in units of the drawing's width: the same for any size
    cost = _squared_distances(p / scale, q / scale) + colour_cost * _squared_distances(lab_p, lab_q)
    fewer, more = len(p), len(q)
    # First every pixel of the smaller drawing gets its own partner (the least-cost one-to-one
    # matching), then the other drawing's leftover pixels are shared out among them, each lending
    # at most `copies - 1` more times (the least-cost matching of the leftovers to those copies).
    row, column = _linear_sum_assignment(cost)
    left = np.setdiff1d(np.arange(more), column)
    if len(left):
        copies = -(-more // fewer)
        extra_row, extra_column = _linear_sum_assignment(np.tile(cost[:, left], (copies - 1, 1)))
        row, column = np.concatenate([row, extra_row]), np.concatenate([column, left[extra_column]])
    source = row % fewer
    lent = np.bincount(source, minlength=fewer)
    source_mass = 1.0 / (fewer * lent[source])
    target_mass = np.full(len(column), 1.0 / more)
    if flip:
        return ShapeTransport(first.size, q[column], p[source], lab_q[column], lab_p[source], target_mass,
                              source_mass, (more, fewer))  # fmt: skip
    return ShapeTransport(first.size, p[source], q[column], lab_p[source], lab_q[column], source_mass, target_mass,
                          (fewer, more))  # fmt: skip


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the (len(a), len(b)) squared Euclidean distances between the rows of ``a`` and ``b``."""
    # Coordinate by coordinate, in place: the bits of summing a (len(a), len(b), dims) array of
    # squares over its last axis, without that array (5x faster for a pair of 32x32 sprites).
    total = np.subtract.outer(a[:, 0], b[:, 0])
    total *= total
    for k in range(1, a.shape[1]):
        step = np.subtract.outer(a[:, k], b[:, k])
        step *= step
        total += step
    return total


def _linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return scipy's `linear_sum_assignment` of ``cost`` (row indices, column indices).

    ``import scipy.optimize`` loads most of scipy (see benchmarks/bundled_speed.py's import list),
    while the solver is one small compiled module that needs only numpy, so it is loaded on its
    own. Where that module is not where this scipy keeps it, the public import does the work.
    """
    global _solver
    if _solver is None:
        _solver = _load_lsap()
    return _solver(cost)


_solver = None


def _load_lsap():
    """Return scipy's compiled ``linear_sum_assignment``, loaded without importing `scipy.optimize`."""
    import importlib.machinery
    import importlib.util
    import sys

    if "scipy.optimize" not in sys.modules:
        try:
            spec = importlib.util.find_spec("scipy")
            folder = Path(spec.submodule_search_locations[0]) / "optimize"  # type: ignore[union-attr,index]
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = folder / f"_lsap{suffix}"
                if path.is_file():
                    module = sys.modules.get("scipy.optimize._lsap")
                    if module is None:
                        own = importlib.util.spec_from_file_location("scipy.optimize._lsap", path)
                        module = importlib.util.module_from_spec(own)  # type: ignore[arg-type]
                        own.loader.exec_module(module)  # type: ignore[union-attr]
                    return module.linear_sum_assignment
        except (ImportError, AttributeError, TypeError, OSError):
            pass
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment


def start_timestep(t: float, strength: float, train_steps: int = 1000) -> int:
    """Return the diffusion timestep an in-between at ``t`` is noised to from its moved drawing:
    ``strength`` of the way to pure noise midway, falling to none at the keyframes (a sin ramp,
    so the first in-between stays near its keyframe), always at least timestep 1 (the model
    redraws the moved pixels at least a little)."""
    share = strength * math.sin(math.pi * min(max(t, 0.0), 1.0))
    return max(1, min(train_steps - 1, round(share * (train_steps - 1))))
