"""Shape-aware starts: an in-between starts from its two keyframe drawings moved into each other.

A morph between two drawings that only interpolates noise and text shows a double exposure midway
(two silhouettes cross-fading). Here the opaque pixels of the two drawings are matched by optimal
transport (POT's exact solver, `ot.emd`: uniform mass per pixel, cost = squared distance on the
grid plus a little OKLab colour distance), and frame t is the displacement interpolation: every
matched pair of pixels sits at (1 - t) p + t q with colour (1 - t) c_a + t c_b, splatted back to
the grid; the pixels that got the most mass, as many as the drawing's interpolated pixel count, are
opaque. So the silhouette deforms instead of fading. The engine then noises that picture part way and denoises it (SDEdit): the
model turns the moved pixels into a drawing. `start_timestep` says how far: little next to the
keyframes (the first in-between stays near its keyframe), most midway. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..pixelate.color import linear_to_srgb8, oklab_to_linear, srgb8_to_oklab

OPAQUE = 128  # alpha at or above which a pixel is part of the drawing (as the pixelation reads it)
# Weight of the squared OKLab colour distance against the squared distance in picture widths: a
# red-to-yellow difference (0.3) costs as much as moving 2 pixels of a 32-pixel sprite, so colour
# breaks ties between equally near pixels without pulling pixels across the picture.
COLOUR_COST = 0.05
# Most opaque pixels (geometric mean of the two drawings) for exact transport: POT's time and the
# cost matrix grow with the product of the two counts (a 64x64 sprite with no background is the limit).
MAX_PIXELS = 64 * 64
# How much a pixel's own mass counts against its neighbourhood's when picking the opaque pixels.
OWN_WEIGHT = 0.55


@dataclass(frozen=True)
class ShapeTransport:
    """The optimal transport plan between the opaque pixels of two same-size RGBA drawings: one
    entry per matched pair (source and target position, OKLab colour, mass), as `transport` makes it."""

    size: tuple[int, int]  # (width, height)
    source: np.ndarray  # (M, 2) x, y of the pair's pixel in the first drawing
    target: np.ndarray  # (M, 2) in the second
    source_lab: np.ndarray  # (M, 3) OKLab
    target_lab: np.ndarray
    mass: np.ndarray  # (M,) sums to 1
    counts: tuple[int, int]  # opaque pixels in each drawing

    def at(self, t: float) -> Image.Image:
        """Return the drawing a fraction ``t`` of the way (0: the first drawing, 1: the second), RGBA."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be between 0 and 1, got {t}")
        width, height = self.size
        position = (1.0 - t) * self.source + t * self.target
        lab = (1.0 - t) * self.source_lab + t * self.target_lab
        # Bilinear splat: each pair's mass goes to the four pixels around where it lands.
        x0, y0 = np.floor(position[:, 0]), np.floor(position[:, 1])
        fx, fy = position[:, 0] - x0, position[:, 1] - y0
        mass = np.zeros(height * width)
        colour = np.zeros((height * width, 3))
        for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                               (1, 1, fx * fy)):  # fmt: skip
            x, y = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
            w = weight * self.mass
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


def _pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Return (positions (N, 2) x, y, OKLab (N, 3)) of the opaque pixels of ``image``."""
    array = np.asarray(image.convert("RGBA"))
    ys, xs = np.nonzero(array[..., 3] >= OPAQUE)
    return np.stack([xs, ys], axis=1).astype(np.float64), srgb8_to_oklab(array[ys, xs, :3]).astype(np.float64)


def transport(first: Image.Image, second: Image.Image, colour_cost: float = COLOUR_COST) -> ShapeTransport | None:
    """Return the optimal transport between the opaque pixels of two drawings of the same size, or
    None when either has no opaque pixel (nothing to move) or they have too many (see `MAX_PIXELS`)."""
    ot = _import_pot()

    if first.size != second.size:
        raise ValueError(f"drawings must have the same size, got {first.size} and {second.size}")
    (p, lab_p), (q, lab_q) = _pixels(first), _pixels(second)
    if not len(p) or not len(q):
        return None
    if len(p) * len(q) > MAX_PIXELS**2:
        return None  # the exact solver's time and memory grow with the product: such frames start from noise
    scale = max(first.size)  # the cost in units of the drawing's width: the same for any size
    cost = ot.dist(p / scale, q / scale) + colour_cost * ot.dist(lab_p, lab_q)
    a = np.full(len(p), 1.0 / len(p))
    b = np.full(len(q), 1.0 / len(q))
    plan = ot.emd(a, b, cost, numItermax=1_000_000)
    i, j = np.nonzero(plan > 1e-12)
    return ShapeTransport(first.size, p[i], q[j], lab_p[i], lab_q[j], plan[i, j], (len(p), len(q)))


def _import_pot():
    """Return POT's ``ot`` module, imported without scikit-learn.

    POT imports scikit-learn, when installed, for one k-means initialisation this module never uses
    (``ot.lowrank``, behind an ImportError guard); sentence-transformers installs it, and importing
    it took 2-3 s of a cold morph on a 2-core CPU (POT itself ~1.3 s). Until POT is imported,
    ``import sklearn`` fails inside it; a scikit-learn imported before stays as it is.
    """
    import sys

    if "ot" in sys.modules or "sklearn" in sys.modules:
        import ot

        return ot
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # import system: "not installed"
    try:
        import ot
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]
    return ot


def start_timestep(t: float, strength: float, train_steps: int = 1000) -> int:
    """Return the diffusion timestep an in-between at ``t`` is noised to from its moved drawing:
    ``strength`` of the way to pure noise midway, falling to none at the keyframes (a sin ramp,
    so the first in-between stays near its keyframe), always at least timestep 1 (the model
    redraws the moved pixels at least a little)."""
    share = strength * math.sin(math.pi * min(max(t, 0.0), 1.0))
    return max(1, min(train_steps - 1, round(share * (train_steps - 1))))
