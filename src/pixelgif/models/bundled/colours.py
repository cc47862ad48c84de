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
    out[opaque, :3] = _in_srgb(new)[inverse.reshape(-1)]
    return out


# -- the eleven colour words, achromatic ones included -----------------------------------------------
# The colours a prompt can name: the seven hue families, brown (dark orange/yellow), and black,
# white and grey (by lightness, chroma below MIN_CHROMA).
ALL_COLOURS = (*COLOURS, "brown", "black", "white", "grey")
# Colour words the recolouring knows, as the colour family they turn a sprite to.
COLOUR_FAMILIES = {**{c: c for c in ALL_COLOURS}, "gray": "grey", "silver": "grey", "crimson": "red", "scarlet": "red", "violet": "purple",
                   "gold": "yellow", "golden": "yellow", "navy": "blue", "cyan": "blue", "turquoise": "blue",
                   "teal": "green", "magenta": "pink"}  # fmt: skip
# Targets of the colours that are not a hue family: (hue in degrees, lightness, chroma).
OTHER_TARGETS = {"brown": (60.0, 0.45, 0.09), "black": (0.0, 0.24, 0.0), "white": (0.0, 0.95, 0.0),
                 "grey": (0.0, 0.62, 0.0)}  # fmt: skip
BLACK_LIGHTNESS, WHITE_LIGHTNESS = 0.38, 0.85  # achromatic pixels below / above: black / white, else grey
PINK_LIGHTNESS = 0.75  # light reds read as pink
OUTLINE_LIGHTNESS = 0.25  # pixels darker than this are outlines and details a recolouring keeps
# Share of opaque pixels a colour needs for a sprite to "be" it: achromatic colours need more,
# since outlines (black) and highlights (white) are part of every sprite.
MIN_SHARE = {"black": 0.45, "white": 0.45, "grey": 0.45}
MIN_CHROMATIC_SHARE = 0.3


def pixel_colours(lab: np.ndarray) -> np.ndarray:
    """Return, per OKLab pixel, the index into `ALL_COLOURS` of the colour word it reads as."""
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    lightness = lab[..., 0]
    index = family_of(_hue_degrees(lab))
    warm = np.isin(index, [COLOURS.index("orange"), COLOURS.index("yellow")])
    index[warm & (lightness < BROWN_LIGHTNESS)] = ALL_COLOURS.index("brown")
    index[(index == COLOURS.index("red")) & (lightness >= PINK_LIGHTNESS)] = COLOURS.index("pink")
    grey = chroma < MIN_CHROMA
    index[grey] = ALL_COLOURS.index("grey")
    index[grey & (lightness < BLACK_LIGHTNESS)] = ALL_COLOURS.index("black")
    index[grey & (lightness > WHITE_LIGHTNESS)] = ALL_COLOURS.index("white")
    return index


def colour_shares(rgba: np.ndarray) -> dict[str, float]:
    """Return the share of the sprite's opaque pixels that reads as each of `ALL_COLOURS`."""
    opaque = rgba[rgba[..., 3] >= 128][:, :3]
    if len(opaque) == 0:
        return dict.fromkeys(ALL_COLOURS, 0.0)
    counts = np.bincount(pixel_colours(srgb8_to_oklab(opaque)), minlength=len(ALL_COLOURS))
    return {colour: float(count / len(opaque)) for colour, count in zip(ALL_COLOURS, counts, strict=True)}


def has_colour(rgba: np.ndarray, colour: str) -> bool:
    """Return True when the sprite reads as ``colour``: enough of its pixels are that colour, or a hue
    is the most common colour of the sprite."""
    shares = colour_shares(rgba)
    if shares[colour] >= MIN_SHARE.get(colour, MIN_CHROMATIC_SHARE):
        return True
    return colour not in MIN_SHARE and max(shares, key=shares.__getitem__) == colour


def recolour(rgba: np.ndarray, target: str) -> np.ndarray:
    """Return a copy of the sprite in colour ``target`` (any of `ALL_COLOURS`), checked on the result.

    A sprite mostly one hue family turns that family's pixels (`rotate_to`, a red apple keeps its
    green leaf); otherwise, or when that does not make the sprite read as ``target``, its body
    (every opaque pixel but dark outlines, or that hue family) is painted the target with its
    shading kept.
    """
    if target not in ALL_COLOURS:
        raise ValueError(f"unknown colour {target!r}; one of: {', '.join(ALL_COLOURS)}")
    info = dominant_hue(rgba)
    if target in FAMILIES and info.family is not None:
        turned = rotate_to(rgba, info, target)
        if has_colour(turned, target):
            return turned
    painted = _paint(rgba, info, target, whole=False)
    return painted if has_colour(painted, target) else _paint(rgba, info, target, whole=True)


def _paint(rgba: np.ndarray, info: HueInfo, target: str, whole: bool) -> np.ndarray:
    """Return the sprite with its body painted ``target``: the dominant family's pixels (without one,
    every pixel lighter than an outline; with ``whole``, every pixel), shading compressed but kept."""
    if target in FAMILIES:
        _, hue, lightness, chroma = FAMILIES[target]
    else:
        hue, lightness, chroma = OTHER_TARGETS[target]
    out = rgba.copy()
    opaque = out[..., 3] >= 128
    if not opaque.any():
        return out
    colours, inverse = np.unique(out[opaque][:, :3], axis=0, return_inverse=True)
    lab = srgb8_to_oklab(colours).astype(np.float64)
    own_chroma = np.hypot(lab[:, 1], lab[:, 2])
    if whole:  # a dark sprite turned light: its outlines too, kept darker by the shading
        weight = np.ones(len(lab))
    elif info.family is not None:
        away = np.abs((_hue_degrees(lab) - info.hue + 180) % 360 - 180)
        weight = np.clip((90 - away) / 45, 0, 1) * (own_chroma >= MIN_CHROMA * 0.5)
    else:
        weight = (lab[:, 0] >= OUTLINE_LIGHTNESS).astype(np.float64)
    if not (weight > 0).any():
        weight = np.ones(len(lab))
    body = weight > 0.5
    mean_l = float(lab[body, 0].mean()) if body.any() else float(lab[:, 0].mean())
    mean_c = float(own_chroma[body].mean()) if body.any() else float(own_chroma.mean())
    new_l = np.clip(lightness + (lab[:, 0] - mean_l) * 0.6, 0.04, 0.99)
    new_c = chroma * np.clip(own_chroma / max(mean_c, 1e-6), 0.6, 1.4) if chroma > 0 else np.zeros(len(lab))
    radians = np.radians(hue)
    painted = np.stack([new_l, new_c * np.cos(radians), new_c * np.sin(radians)], axis=-1)
    new = lab + weight[:, None] * (painted - lab)
    out[opaque, :3] = _in_srgb(new)[inverse.reshape(-1)]
    return out


def _in_srgb(lab: np.ndarray) -> np.ndarray:
    """Return OKLab colours as sRGB uint8; out-of-gamut ones lose chroma (not hue or lightness) until they fit."""
    lab = lab.copy()
    for _ in range(12):
        bad = ~_in_gamut(lab)
        if not bad.any():
            break
        lab[bad, 1:] *= 0.85
    return linear_to_srgb8(np.clip(oklab_to_linear(lab), 0, 1).astype(np.float32))


def named_colour(prompt: str) -> tuple[str | None, str]:
    """Return (the colour family ``prompt`` names, or None; the prompt without its colour words).

    A colour word before another word is an adjective ("an orange goldfish"); last, it is the noun
    ("an orange"), so it stays in the subject.
    """
    words = prompt.lower().replace(",", " ").split()
    named = [i for i, w in enumerate(words[:-1]) if w in COLOUR_WORDS or w in COLOUR_FAMILIES]
    colour = next((COLOUR_FAMILIES[words[i]] for i in named if words[i] in COLOUR_FAMILIES), None)
    return colour, " ".join(w for i, w in enumerate(words) if i not in named)
