"""Hue-rotated colour copies: the dominant hue really moves, captions name the new colour."""

import numpy as np
import pytest

from pixelgif.train.bundled import colour_captions as cc
from pixelgif.train.bundled.data import Sprite


def _sprite(rgb, second=None, size=32):
    """Return a (32, 32, 4) sprite: a disc of ``rgb`` (with a patch of ``second``) on transparent white."""
    pixels = np.full((size, size, 4), (255, 255, 255, 0), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - 16) ** 2 + (xx - 16) ** 2 < 13**2
    pixels[disc] = (*rgb, 255)
    # Shading: a darker rim, so rotation must keep more than one colour.
    rim = disc & ((yy - 16) ** 2 + (xx - 16) ** 2 > 11**2)
    pixels[rim, :3] = (np.array(rgb) * 0.6).astype(np.uint8)
    if second is not None:
        pixels[2:6, 14:18] = (*second, 255)
    return pixels


@pytest.mark.parametrize(
    ("rgb", "family"),
    [
        ((220, 30, 30), "red"),
        ((255, 140, 0), "orange"),
        ((250, 220, 40), "yellow"),
        ((40, 180, 60), "green"),
        ((30, 80, 230), "blue"),
        ((130, 50, 200), "purple"),
        ((255, 105, 180), "pink"),
    ],
)
def test_dominant_hue_names_plain_colours(rgb, family):
    assert cc.dominant_hue(_sprite(rgb)).family == family


def test_grey_brown_and_mixed_sprites_have_no_colour():
    assert cc.dominant_hue(_sprite((128, 128, 128))).family is None
    assert cc.dominant_hue(_sprite((110, 70, 30))).family is None  # brown
    mixed = _sprite((220, 30, 30))
    mixed[:, 16:][mixed[:, 16:, 3] == 255, :3] = (30, 80, 230)
    assert cc.dominant_hue(mixed).family is None


@pytest.mark.parametrize("target", cc.COLOURS)
def test_rotation_moves_the_dominant_hue_to_the_target(target):
    apple = _sprite((220, 30, 30), second=(40, 160, 40))
    info = cc.dominant_hue(apple)
    rotated = cc.rotate_to(apple, info, target)
    assert cc.dominant_hue(rotated).family == target
    assert np.array_equal(rotated[..., 3], apple[..., 3])
    assert (rotated[apple[..., 3] == 0] == (255, 255, 255, 0)).all()
    if target != "red":  # the green leaf, far from red, keeps its colour
        assert (rotated[2:6, 14:18, :3] == (40, 160, 40)).all()


def test_captions_replace_the_colour_word_or_add_one():
    assert cc.recolour_caption("a red apple", "blue") == "a blue apple"
    assert cc.recolour_caption("red apple", "orange") == "orange apple"
    assert (
        cc.recolour_caption("a red apple, food fruit, food and drink", "orange")
        == "an orange apple, food fruit, food and drink"
    )
    assert cc.recolour_caption("a balloon", "blue") == "a blue balloon"
    assert cc.recolour_caption("balloon", "green") == "green balloon"
    assert cc.recolour_caption("pixel art of an apple", "purple") == "pixel art of a purple apple"
    assert cc.recolour_caption("heavy black heart", "pink") == "heavy pink heart"
    assert cc.recolour_caption("an orange", "blue") == "a blue orange"  # 'orange' the fruit stays
    assert cc.recolour_caption("a light blue heart", "red") == "a red heart"


def _sprites():
    return [
        Sprite(_sprite((220, 30, 30)), ["a red apple", "red apple"], "1F34E", "twitter"),
        Sprite(_sprite((230, 40, 40)), ["a balloon", "pixel art of a balloon"], "1F388", "twitter"),
        Sprite(_sprite((128, 128, 128)), ["a rock"], "1FAA8", "twitter"),
    ]


def test_colour_copies_are_configurable_identifiable_and_deterministic():
    sprites = _sprites()
    copies = cc.colour_copies(sprites, copies=3, seed=1)
    assert len(copies) == 6  # 3 each for the apple and the balloon, none for the grey rock
    for copy in copies:
        colour = copy.source.removeprefix("hue:")
        assert colour in cc.COLOURS and colour != "red"
        assert cc.dominant_hue(copy.pixels).family == colour
        assert all(colour in caption.split() for caption in copy.captions)
        assert copy.pixels.dtype == np.uint8 and copy.pixels.shape == (32, 32, 4)
    assert len({c.source for c in copies if c.concept == "1F34E"}) == 3  # distinct colours
    # The originals are kept; one without a colour word gains a caption naming its own colour.
    assert "a red balloon" in sprites[1].captions and sprites[0].captions == ["a red apple", "red apple"]
    again = cc.colour_copies(_sprites(), copies=3, seed=1)
    assert [c.source for c in again] == [c.source for c in copies]
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(again, copies, strict=True))
    assert len(cc.colour_copies(_sprites(), copies=1)) == 2
    other_seed = cc.colour_copies(_sprites(), copies=1, seed=7)
    assert len(other_seed) == 2
