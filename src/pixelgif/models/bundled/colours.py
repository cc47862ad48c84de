"""Sprite colours in OKLab: a sprite's dominant hue family, and turning that family to another.

Used at run time (the sprite library recolours a sprite to the colour a prompt names) and by the
training data builder (hue-rotated copies with rewritten captions). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...pixelate.color import linear_to_srgb8, oklab_to_linear, srgb8_to_oklab

# Family -> (OKLCh hue range [start, end) in degrees, target hue, target lightness, target chroma).
# Ranges measured on sRGB primaries/named colours: red 29, orange ~60, yellow 110, green 142,
# blue 264, purple ~305, hot pink ~355.
FAMILIES = {
    "red": ((12.0, 45.0), 28.0, 0.60, 0.22),
    "orange": ((45.0, 75.0), 58.0, 0.72, 0.18),
    "yellow": ((75.0, 125.0), 102.0, 0.88, 0.17),
    "green": ((125.0, 190.0), 145.0, 0.68, 0.19),
    "blue": ((190.0, 285.0), 255.0, 0.55, 0.18),
    "purple": ((285.0, 330.0), 305.0, 0.52, 0.19),
    "pink": ((330.0, 372.0), 355.0, 0.75, 0.16),  # wraps past 360 to 12
}
COLOURS = tuple(FAMILIES)
# Words that name a colour in captions; the ones after a noun slot ("an orange") are nouns.
COLOUR_WORDS = {
    *COLOURS,
    "violet",
    "brown",
    "black",
    "white",
    "grey",
    "gray",
    "gold",
    "golden",
    "silver",
    "crimson",
    "scarlet",
    "navy",
    "teal",
    "cyan",
    "magenta",
    "turquoise",
    "beige",
}
MIN_CHROMA = 0.05  # OKLab chroma below this is near-grey: black, white, grey outlines
MIN_COLOURFUL = 0.3  # share of opaque pixels that must be chromatic for a sprite to have "a colour"
MIN_DOMINANCE = 0.6  # share of chromatic pixels in the top family for "mostly one hue family"
BROWN_LIGHTNESS = 0.6  # OKLab L below which a warm family is brown


@dataclass
class HueInfo:
    """A sprite's colour: its dominant family, that family's mean hue and lightness, how dominant it is."""

    family: str | None
    hue: float  # degrees
    lightness: float
    dominance: float
    colourful: float


def _hue_degrees(lab: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360


def family_of(hue: np.ndarray) -> np.ndarray:
    """Return the index into COLOURS of each hue (degrees)."""
    index = np.zeros(hue.shape, dtype=np.int64)
    for i, ((start, end), *_rest) in enumerate(FAMILIES.values()):
        inside = ((hue >= start) & (hue < end)) | ((hue + 360 >= start) & (hue + 360 < end))
        index[inside] = i
    return index


def dominant_hue(rgba: np.ndarray) -> HueInfo:
    """Return the dominant hue family of an RGBA uint8 sprite, ignoring transparent and near-grey pixels.

    ``family`` is None when the sprite is mostly grey or not mostly one family.
    """
    opaque = rgba[rgba[..., 3] >= 128][:, :3]
    if len(opaque) == 0:
        return HueInfo(None, 0.0, 0.0, 0.0, 0.0)
    lab = srgb8_to_oklab(opaque)
    chromatic = np.hypot(lab[:, 1], lab[:, 2]) >= MIN_CHROMA
    colourful = float(chromatic.mean())
    if not chromatic.any():
        return HueInfo(None, 0.0, 0.0, 0.0, colourful)
    lab = lab[chromatic]
    families = family_of(_hue_degrees(lab))
    counts = np.bincount(families, minlength=len(COLOURS))
    top = int(counts.argmax())
    dominance = float(counts[top] / counts.sum())
    members = lab[families == top]
    hue = float(np.degrees(np.arctan2(members[:, 2].mean(), members[:, 1].mean())) % 360)
    lightness = float(members[:, 0].mean())
    # Dark oranges/yellows read as brown (wood, chocolate): no colour word of the seven fits.
    brown = COLOURS[top] in {"orange", "yellow"} and lightness < BROWN_LIGHTNESS
    ok = colourful >= MIN_COLOURFUL and dominance >= MIN_DOMINANCE and not brown
    return HueInfo(COLOURS[top] if ok else None, hue, lightness, dominance, colourful)


def _in_gamut(lab: np.ndarray) -> np.ndarray:
    linear = oklab_to_linear(lab)
    return np.all((linear >= -1e-4) & (linear <= 1 + 1e-4), axis=-1)


def rotate_to(rgba: np.ndarray, info: HueInfo, target: str) -> np.ndarray:
    """Return a copy of the sprite with its dominant hue family turned to ``target``.

    Pixels near the dominant hue move fully, ones 45-90 degrees away partly, the rest (a leaf,
    an outline) stay: a red apple becomes a blue apple with a green leaf.
    """
    _, target_hue, target_l, target_c = FAMILIES[target]
    out = rgba.copy()
    opaque = out[..., 3] >= 128
    colours, inverse = np.unique(out[opaque][:, :3], axis=0, return_inverse=True)
    lab = srgb8_to_oklab(colours).astype(np.float64)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    away = np.abs((_hue_degrees(lab) - info.hue + 180) % 360 - 180)
    weight = np.clip((90 - away) / 45, 0, 1) * (chroma >= MIN_CHROMA * 0.5)
    # Shading is kept: the family's lightness is shifted as a whole, chroma scaled as a whole.
    members = weight > 0.99
    mean_c = chroma[members].mean() if members.any() else chroma.mean()
    new_l = np.clip(lab[:, 0] + weight * (target_l - info.lightness), 0.05, 0.98)
    scale = 1 + weight * (np.clip(target_c / max(mean_c, 1e-6), 0.6, 1.8) - 1)
    new_c = chroma * scale
    new_h = np.radians(_hue_degrees(lab) + weight * ((target_hue - info.hue + 180) % 360 - 180))
    new = np.stack([new_l, new_c * np.cos(new_h), new_c * np.sin(new_h)], axis=-1)
    # Out-of-gamut colours lose chroma (not hue) until sRGB can show them.
    for _ in range(12):
        bad = ~_in_gamut(new)
        if not bad.any():
            break
        new[bad, 1:] *= 0.85
    rgb = linear_to_srgb8(np.clip(oklab_to_linear(new), 0, 1).astype(np.float32))
    out[opaque, :3] = rgb[inverse.reshape(-1)]
    return out
