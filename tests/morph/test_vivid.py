"""Vivid in-betweens: a pale in-between is brought up to its keyframes' colour and contrast."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pixelgif.models import backend_of
from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.morph import MorphConfig, MorphPipeline
from pixelgif.morph.schedule import FramePlan
from pixelgif.morph.vivid import ColourStats, VividFrames, hue_path, revive
from pixelgif.pixelate.color import srgb8_to_oklab
from pixelgif.settings import read_settings


def _sprite(colour, background=(0, 0, 0, 0), size=16, stripe=3) -> Image.Image:
    """Return an RGBA sprite: a square of ``colour`` with a stripe ``stripe`` times darker, on ``background``."""
    array = np.zeros((size, size, 4), np.uint8)
    array[...] = background
    array[4:12, 4:12] = (*colour, 255)
    array[7:9, 4:12] = (*(int(c / stripe) for c in colour), 255)
    return Image.fromarray(array, "RGBA")


def _chroma(image: Image.Image) -> float:
    array = np.asarray(image.convert("RGBA"))
    lab = srgb8_to_oklab(array[array[..., 3] >= 128][:, :3])
    return float(np.hypot(lab[:, 1], lab[:, 2]).mean())


@pytest.fixture(scope="module")
def bundled_engine():
    return MorphPipeline(backend_of(load_bundled_pipeline()), progress=False)


def test_a_grey_in_between_gets_the_colour_and_contrast_of_its_keyframes():
    red, blue = _sprite((220, 40, 40)), _sprite((40, 60, 220))
    grey = _sprite((128, 120, 125), stripe=1.2)  # pale and flat
    vivid = VividFrames({0: red, 1: blue})
    plan = [FramePlan(0, 0, 1, 0.0), FramePlan(1, 0, 1, 0.5), FramePlan(2, 0, 1, 1.0)]
    out = vivid.see(plan, [red, grey, blue])
    assert out[0] is red and out[2] is blue  # keyframes are never touched
    assert _chroma(out[1]) >= 0.9 * (_chroma(red) + _chroma(blue)) / 2 > 4 * _chroma(grey)
    lightness = srgb8_to_oklab(np.asarray(out[1])[4:12, 4:12, :3])[..., 0]
    assert lightness.std() > 1.5 * srgb8_to_oklab(np.asarray(grey)[4:12, 4:12, :3])[..., 0].std()
    assert np.array_equal(np.asarray(out[1])[..., 3], np.asarray(grey)[..., 3])  # the silhouette stays


def _hue(ab) -> float:
    return float(np.degrees(np.arctan2(ab[1], ab[0])) % 360)


def test_the_mean_colour_turns_its_hue_and_meets_opposites_through_purple():
    red, pale_blue, orange, grey = (np.array(c) for c in ([0.18, 0.10], [-0.04, -0.02], [0.10, 0.12], [0.004, 0.0]))
    # Red to a pale blue (hues ~180 degrees apart): through magenta-purple, chroma linear, no grey.
    for t, low, high in ((0.25, 300, 360), (0.5, 265, 330), (0.75, 225, 290)):
        ab = hue_path(red, pale_blue, t)
        assert low < _hue(ab) < high
        assert np.hypot(*ab) == pytest.approx((1 - t) * np.hypot(*red) + t * np.hypot(*pale_blue))
    assert np.allclose(hue_path(red, pale_blue, 0.0), red) and np.allclose(hue_path(red, pale_blue, 1.0), pale_blue)
    # Near hues take the shorter arc, between the two.
    assert _hue(red) < _hue(hue_path(red, orange, 0.5)) < _hue(orange)
    # Next to a grey the colour keeps its hue and fades.
    assert _hue(hue_path(red, grey, 0.5)) == pytest.approx(_hue(red))
    assert np.hypot(*hue_path(red, grey, 0.5)) == pytest.approx((np.hypot(*red) + np.hypot(*grey)) / 2)
    # Two greys: a straight line.
    assert np.allclose(hue_path(grey, -grey, 0.5), [0.0, 0.0])


def test_an_in_between_of_red_and_pale_blue_keyframes_is_purple():
    red, pale_blue = _sprite((220, 40, 40)), _sprite((150, 190, 215))
    vivid = VividFrames({0: red, 1: pale_blue})
    middle = vivid.see([FramePlan(1, 0, 1, 0.5)], [_sprite((200, 120, 120))])[0]
    array = np.asarray(middle)
    lab = srgb8_to_oklab(array[array[..., 3] >= 128][:, :3]).mean(0)
    assert 265 < _hue(lab[1:]) < 335  # purple, not a salmon pink (~25) or grey


def test_a_frame_like_its_keyframe_is_kept_and_rgb_frames_work():
    red = _sprite((220, 40, 40)).convert("RGB")
    target = ColourStats.of(red)
    assert target is not None
    assert np.array_equal(np.asarray(revive(red, target)), np.asarray(red))
    assert revive(red, target).mode == "RGB"


def test_keyframe_statistics_come_from_the_rendered_keyframes_when_not_given():
    red, blue, grey = _sprite((220, 40, 40)), _sprite((40, 60, 220)), _sprite((128, 128, 128))
    vivid = VividFrames()
    unseen = vivid.see([FramePlan(1, 0, 1, 0.5)], [grey])
    assert unseen[0] is grey  # no keyframe seen yet: nothing to aim at
    vivid.see([FramePlan(0, 0, 1, 0.0), FramePlan(2, 0, 1, 1.0)], [red, blue])
    assert _chroma(vivid.see([FramePlan(1, 0, 1, 0.5)], [grey])[0]) > 4 * _chroma(grey)


def test_vivid_morphs_are_deterministic_and_keep_library_keyframes(bundled_engine):
    config = MorphConfig(prompts=["a big blue whale", "a red apple"], frames=4, steps=2, spacing="linear")
    first, second = bundled_engine(config), bundled_engine(config)
    plain = bundled_engine(MorphConfig(prompts=config.prompts, frames=4, steps=2, spacing="linear", vivid=False))
    for a, b in zip(first.frames, second.frames, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(first.frames[0]), np.asarray(plain.frames[0]))  # keyframes as they were
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first.frames, plain.frames, strict=True)
    )


def test_settings_files_from_before_vivid_in_betweens_replay_without_them(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "pixelgif-settings", "version": 2, "morph": {"prompts": ["a", "b"]}}))
    morph = read_settings(old)["morph"]
    assert morph["vivid"] is False and morph["midway_guidance"] == 0.0
    new = MorphConfig(prompts=["a", "b"])
    assert new.vivid is True and new.midway_guidance == 0.5
