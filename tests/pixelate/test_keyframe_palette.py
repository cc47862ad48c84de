"""Animations: keyframes keep their colours in the shared palette; flat areas get no dither speckle."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelgif.pixelate import PixelateConfig, pixelate_frames
from pixelgif.settings import check_settings


def _flat(colour, size=16) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def _frames() -> list[Image.Image]:
    """A keyframe in two browns, then yellow, green and blue frames that would take the palette."""
    key = np.zeros((16, 16, 3), np.uint8)
    key[:, :8], key[:, 8:] = (110, 60, 30), (60, 30, 10)  # coffee: two browns
    others = []
    for i in range(14):  # yellows, greens and blues: four clusters would all go to them
        frame = np.zeros((16, 16, 3), np.uint8)
        frame[:, :8] = (240, 220 - 5 * i, 40)
        frame[:, 8:] = (40, 160 + 5 * i, 230) if i % 2 else (60, 200, 60 + 4 * i)
        others.append(Image.fromarray(frame))
    return [Image.fromarray(key), *others]


def test_keyframes_keep_their_own_colours_in_a_small_shared_palette():
    frames = _frames()
    config = PixelateConfig(pixel_size=1, colors=5, dither="none")
    weighted = pixelate_frames(frames, config, keyframes=[0])
    plain = pixelate_frames(frames, PixelateConfig(pixel_size=1, colors=5, dither="none", keyframe_share=0))

    def error(art) -> float:
        out = np.asarray(art.images[0].convert("RGB")).astype(float)
        return float(np.abs(out - np.asarray(frames[0], float)).mean())

    assert error(weighted) == 0 < 10 < error(plain)  # plain: the two browns share one colour


def test_ordered_dither_leaves_colours_near_a_palette_colour_flat():
    frames = [_flat((100, 100, 100)), _flat((120, 120, 120)), _flat((104, 104, 104))]
    colours = np.array([[100, 100, 100], [120, 120, 120]], np.uint8)
    speckled = pixelate_frames(frames, PixelateConfig(pixel_size=1, palette=colours, dither_threshold=0))
    flat = pixelate_frames(frames, PixelateConfig(pixel_size=1, palette=colours))
    assert len(np.unique(np.asarray(speckled.images[2]))) == 2  # a few dots of the other grey
    assert len(np.unique(np.asarray(flat.images[2]))) == 1
    midway = pixelate_frames([_flat((110, 110, 110))] * 2, PixelateConfig(pixel_size=1, palette=colours))
    assert len(np.unique(np.asarray(midway.images[0]))) == 2  # a colour between two still dithers


@pytest.mark.parametrize("name, value", [("dither_threshold", 0.6), ("keyframe_share", 1.0), ("dither_threshold", "x")])
def test_bad_values_are_one_clear_error(name, value):
    with pytest.raises(ValueError, match=name.replace("_", " ")):
        PixelateConfig(**{name: value})


def test_settings_files_from_before_replay_with_every_frame_equal_and_dithered():
    data = check_settings({"format": "pixelgif-settings", "version": 2, "pixelate": {}}, "old.json")
    assert data["pixelate"] == {"dither_threshold": 0.0, "keyframe_share": 0.0}
    assert PixelateConfig().dither_threshold == 0.2 and PixelateConfig().keyframe_share == 0.5
