"""Colour words on sprites: every one of the eleven colours, checked on the recoloured result."""

from __future__ import annotations

import numpy as np
import pytest

from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.models.bundled.colours import ALL_COLOURS, colour_shares, has_colour, recolour


def _sprite(body, detail=(40, 160, 60)) -> np.ndarray:
    """Return a 32x32 RGBA sprite: a ``body`` disc with a dark outline and a small ``detail`` patch."""
    y, x = np.mgrid[:32, :32]
    radius = np.hypot(y - 16, x - 16)
    sprite = np.zeros((32, 32, 4), np.uint8)
    sprite[radius < 12] = (20, 20, 20, 255)
    sprite[radius < 11] = (*body, 255)
    sprite[(radius < 11) & (y < 16)] = (*(min(255, int(c * 1.2) + 10) for c in body), 255)  # a highlight
    sprite[4:8, 14:18] = (*detail, 255)
    return sprite


@pytest.mark.parametrize("source", [(220, 40, 40), (240, 240, 240), (30, 30, 30), (130, 80, 40), (128, 128, 128)])
@pytest.mark.parametrize("target", ALL_COLOURS)
def test_every_colour_word_recolours_any_sprite_to_its_family(source, target):
    sprite = _sprite(source)
    turned = recolour(sprite, target)
    assert has_colour(turned, target), (target, colour_shares(turned))
    assert np.array_equal(turned[..., 3], sprite[..., 3])  # the silhouette is kept
    outline, body = (sprite[..., :3] == 20).all(-1), (sprite[..., :3] == source).all(-1)
    lightness = turned[..., :3].astype(float).mean(-1)
    assert lightness[outline].mean() < lightness[body].mean() or target == "black"  # outlines stay darker


def test_families_by_lightness_and_hue():
    assert has_colour(_sprite((20, 20, 24)), "black") and not has_colour(_sprite((20, 20, 24)), "grey")
    assert has_colour(_sprite((245, 245, 245)), "white")
    assert has_colour(_sprite((128, 128, 128)), "grey")
    assert has_colour(_sprite((120, 70, 30)), "brown") and not has_colour(_sprite((120, 70, 30)), "orange")
    assert has_colour(_sprite((250, 160, 190)), "pink") and not has_colour(_sprite((250, 160, 190)), "red")
    assert has_colour(_sprite((240, 130, 20)), "orange")
    # A red sprite's black outline does not make it black.
    assert not has_colour(_sprite((220, 40, 40)), "black")


def test_a_red_apple_turned_blue_keeps_its_green_leaf():
    turned = recolour(_sprite((220, 40, 40)), "blue")
    assert has_colour(turned, "blue")
    assert np.array_equal(turned[4:8, 14:18], _sprite((220, 40, 40))[4:8, 14:18])


def test_library_colour_words_give_the_named_colour_at_every_seed():
    pipe = load_bundled_pipeline()
    for thing in ("cat", "apple", "car"):
        for colour in ("black", "white", "grey", "brown", "pink", "orange", "purple"):
            for seed in range(4):
                found = pipe.library_sprite(f"a {colour} {thing}", seed)
                assert found is not None and has_colour(np.asarray(found[0]), colour), (thing, colour, seed)
