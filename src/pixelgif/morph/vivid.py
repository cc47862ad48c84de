"""Vivid in-betweens: an in-between keeps at least the colour and contrast of its two keyframes.

A morph's middle frames come from interpolated noise and text, and diffusion models turn such
mixtures into paler, flatter pictures than either end (a pale blob, a cross-fade through grey).
`VividFrames` measures each keyframe's OKLab colour statistics (opaque pixels) and moves an
in-between's mean colour to the keyframes' interpolated at its t (its hue turning from one
keyframe's to the other's, `hue_path`) and scales its chroma and lightness spread up to theirs:
never down, by at most `MAX_BOOST`, so a frame that is already vivid keeps its spread and a frame
next to a keyframe (already like it) barely changes. Works on any backend's images (RGB or RGBA).
No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..pixelate.color import linear_to_srgb8, oklab_to_linear, srgb8_to_oklab

MAX_BOOST = 2.5  # the largest factor on chroma or lightness spread: a grey blob is not made garish
# The in-betweens' mean colour: below this OKLab chroma a keyframe's mean has no hue to keep; hues
# further apart than this (radians, ~132 degrees) are nearly opposite and meet through magenta-purple
# (OKLab hue ~331 degrees), as red and blue paints do, not through olive and brown.
HUELESS = 0.02
OPPOSITE_TURN = 2.3
PURPLE_HUE = -0.5
OPAQUE = 128  # alpha at or above which a pixel is part of the picture (as the pixelation reads it)


@dataclass(frozen=True)
class ColourStats:
    """Per-channel mean and standard deviation of OKLab (L, a, b) over a frame's opaque pixels."""

    mean: np.ndarray
    std: np.ndarray
    chroma: float  # mean OKLab chroma

    @classmethod
    def of(cls, image: Image.Image) -> ColourStats | None:
        """Return the statistics of ``image``, or None when it has no opaque pixel."""
        lab, _ = _opaque_lab(image)
        if lab is None:
            return None
        return cls(lab.mean(0), lab.std(0), float(np.hypot(lab[:, 1], lab[:, 2]).mean()))

    def towards(self, other: ColourStats, t: float) -> ColourStats:
        """Return the statistics a fraction ``t`` of the way from these (t=0) to ``other`` (t=1): all
        linear, except the mean colour's hue, which turns (`hue_path`) while its chroma goes linearly."""
        mean = (1 - t) * self.mean + t * other.mean
        mean[1:] = hue_path(self.mean[1:], other.mean[1:], t)
        return ColourStats(mean, (1 - t) * self.std + t * other.std, (1 - t) * self.chroma + t * other.chroma)


def hue_path(start: np.ndarray, end: np.ndarray, t: float) -> np.ndarray:
    """Return the OKLab (a, b) a fraction ``t`` of the way from ``start`` to ``end``: chroma linear, hue
    turning along the shorter arc, or through magenta-purple where the hues are nearly opposite
    (`OPPOSITE_TURN`). A straight line between such colours passes near grey, where the hue turns
    all at once: a red to a pale blue held salmon for most of a morph and turned blue at its end.
    A colour next to a grey (chroma under `HUELESS`) keeps its own hue."""
    chroma = [float(np.hypot(*start)), float(np.hypot(*end))]
    if max(chroma) < HUELESS:
        return (1 - t) * start + t * end
    hue = [float(np.arctan2(start[1], start[0])), float(np.arctan2(end[1], end[0]))]
    if chroma[0] < HUELESS:
        hue[0] = hue[1]
    if chroma[1] < HUELESS:
        hue[1] = hue[0]
    turn = (hue[1] - hue[0] + np.pi) % (2 * np.pi) - np.pi
    if abs(turn) > OPPOSITE_TURN:
        other = turn - np.copysign(2 * np.pi, turn)
        if not _passes(hue[0], turn, PURPLE_HUE) and _passes(hue[0], other, PURPLE_HUE):
            turn = other
    angle, length = hue[0] + t * turn, (1 - t) * chroma[0] + t * chroma[1]
    return np.array([length * np.cos(angle), length * np.sin(angle)])


def _passes(start: float, turn: float, hue: float) -> bool:
    """Return True when turning by ``turn`` radians from hue ``start`` passes hue ``hue``."""
    ahead = (hue - start) % (2 * np.pi)  # how far ``hue`` lies in the positive direction
    return ahead <= turn if turn >= 0 else 2 * np.pi - ahead <= -turn


def _opaque_lab(image: Image.Image) -> tuple[np.ndarray | None, np.ndarray]:
    """Return (OKLab of the opaque pixels or None, the array of the image: RGB or RGBA uint8)."""
    array = np.array(image.convert("RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"))
    mask = array[..., 3] >= OPAQUE if array.shape[-1] == 4 else np.ones(array.shape[:2], bool)
    if not mask.any():
        return None, array
    return srgb8_to_oklab(array[mask][:, :3]).astype(np.float64), array


def revive(image: Image.Image, target: ColourStats) -> Image.Image:
    """Return ``image`` with each OKLab channel's mean and spread moved to ``target``'s (AdaIN on colour)."""
    lab, array = _opaque_lab(image)
    if lab is None:
        return image
    mean, std = lab.mean(0), lab.std(0)
    gain = np.clip(target.std / np.maximum(std, 1e-6), 1 / MAX_BOOST, MAX_BOOST)
    lab = (lab - mean) * gain + target.mean
    lab[:, 0] = np.clip(lab[:, 0], 0.0, 1.0)
    # Two complementary ends (orange, blue) average to grey: the hue the transfer gave is kept, its
    # chroma brought up to the ends' mean chroma.
    chroma = float(np.hypot(lab[:, 1], lab[:, 2]).mean())
    lab[:, 1:] *= float(np.clip(target.chroma / max(chroma, 1e-6), 1.0, MAX_BOOST))
    linear = oklab_to_linear(lab)
    # Out of sRGB: shrink that pixel's chroma (not its hue or lightness) until it fits.
    for _ in range(10):
        outside = np.any((linear < -1e-4) | (linear > 1 + 1e-4), axis=-1)
        if not outside.any():
            break
        lab[outside, 1:] *= 0.85
        linear = oklab_to_linear(lab)
    out = array.copy()
    mask = out[..., 3] >= OPAQUE if out.shape[-1] == 4 else np.ones(out.shape[:2], bool)
    out[mask, :3] = linear_to_srgb8(np.clip(linear, 0.0, 1.0).astype(np.float32))
    return Image.fromarray(out, mode="RGBA" if out.shape[-1] == 4 else "RGB")


@dataclass
class VividFrames:
    """Revives in-betweens to their keyframes' colour statistics; keyframe statistics are taken
    from ``known`` (image keyframes) or from the keyframes as they are rendered (`see`)."""

    known: dict[int, Image.Image] = field(default_factory=dict)
    stats: dict[int, ColourStats | None] = field(default_factory=dict)

    def __post_init__(self):
        for index, image in self.known.items():
            self.stats[index] = ColourStats.of(image)

    def see(self, plan, images: list[Image.Image]) -> list[Image.Image]:
        """Return ``images`` (one per `FramePlan` of ``plan``) with every in-between revived; keyframes
        in ``plan`` (t 0 or 1) are kept as they are and their statistics noted first."""
        for frame, image in zip(plan, images, strict=True):
            if frame.t == 0.0 and frame.start not in self.stats:
                self.stats[frame.start] = ColourStats.of(image)
            elif frame.t == 1.0 and frame.end not in self.stats:
                self.stats[frame.end] = ColourStats.of(image)
        out = []
        for frame, image in zip(plan, images, strict=True):
            start, end = self.stats.get(frame.start), self.stats.get(frame.end)
            if not 0.0 < frame.t < 1.0 or start is None or end is None:
                out.append(image)
                continue
            out.append(revive(image, start.towards(end, frame.t)))
        return out
