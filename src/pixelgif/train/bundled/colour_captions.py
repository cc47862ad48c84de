"""Colour as its own word: hue-rotated copies of sprites, their captions' colour word rewritten.

Emoji rarely come in several colours, so the bundled model never learns that "blue" is a word
of its own. For a sprite that is mostly one hue family, this makes copies turned to other
families in OKLab (lightness and chroma moved towards the family's typical ones, shading kept)
and rewrites the captions: "a red apple" -> "a blue apple", "a balloon" -> "a blue balloon".
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from ...models.bundled.colours import COLOUR_WORDS, COLOURS, FAMILIES, HueInfo, dominant_hue, rotate_to
from .data import Sprite

__all__ = [
    "COLOURS",
    "COLOUR_WORDS",
    "FAMILIES",
    "HueInfo",
    "colour_copies",
    "dominant_hue",
    "recolour_caption",
    "rotate_to",
]


def _fix_articles(text: str) -> str:
    return re.sub(r"\b(a|an) (\w)", lambda m: ("an " if m.group(2) in "aeiou" else "a ") + m.group(2), text)


def recolour_caption(caption: str, colour: str) -> str:
    """Return ``caption`` naming ``colour``: its colour word replaced, or the colour added before the noun."""
    head, sep, tail = caption.partition(", ")
    words = head.split(" ")
    # A colour word followed by another word is an adjective ("red apple"); last, it is the noun ("an orange").
    spots = [i for i, w in enumerate(words[:-1]) if w in COLOUR_WORDS]
    if spots:
        for i in spots:
            words[i] = colour
        # "light blue"/"dark red" drop their shade word with their old colour.
        words = [w for i, w in enumerate(words) if not (w in {"light", "dark"} and i + 1 in spots)]
    else:
        articles = [i for i, w in enumerate(words[:-1]) if w in {"a", "an", "the"}]
        at = articles[0] + 1 if articles else 0
        words.insert(at, colour)
    return _fix_articles(" ".join(words)) + sep + tail


def colour_copies(
    sprites: list[Sprite],
    copies: int = 2,
    seed: int = 0,
    tag_originals: bool = True,
    colours: tuple[str, ...] = COLOURS,
) -> list[Sprite]:
    """Return hue-rotated copies (source 'hue:<colour>') of the sprites that are mostly one hue family.

    Up to ``copies`` per sprite, to distinct colours other than its own, picked by a generator
    seeded from ``seed`` and the sprite's concept and position (the same input gives the same
    copies). A copy whose result does not measure as its target colour is dropped. With
    ``tag_originals`` an original also gets one caption naming its own colour ("a red balloon").
    """
    out = []
    for position, sprite in enumerate(sprites):
        info = dominant_hue(sprite.pixels)
        if info.family is None or sprite.source.startswith("hue:"):
            continue
        if tag_originals and not any(w in COLOUR_WORDS for c in sprite.captions for w in c.split(", ")[0].split()[:-1]):
            sprite.captions.append(recolour_caption(sprite.captions[0], info.family))
        rng = np.random.default_rng([seed, zlib.crc32(f"{sprite.concept}/{sprite.source}".encode()), position])
        others = [c for c in colours if c != info.family]
        for target in rng.permutation(others)[:copies]:
            pixels = rotate_to(sprite.pixels, info, str(target))
            if dominant_hue(pixels).family != target:
                continue
            captions = list(dict.fromkeys(recolour_caption(c, str(target)) for c in sprite.captions))
            out.append(Sprite(pixels, captions, sprite.concept, f"hue:{target}"))
    return out
