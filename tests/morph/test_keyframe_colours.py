"""Colour words without the library: a keyframe render that lacks its prompt's colour is turned to it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pixelgif.models import backend_of
from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.models.bundled.colours import has_colour, named_colour
from pixelgif.models.bundled.pipeline import recolour_render
from pixelgif.morph import MorphConfig, MorphPipeline
from pixelgif.settings import read_settings


@pytest.fixture(scope="module")
def bundled_engine():
    return MorphPipeline(backend_of(load_bundled_pipeline()), progress=False)


def _rgba(image: Image.Image) -> np.ndarray:
    array = np.asarray(image.convert("RGBA")).copy()
    array[..., 3] = np.where(array[..., 3] >= 128, 255, 0)
    return array


def test_named_colour_reads_adjectives_not_nouns():
    assert named_colour("a Black cat") == ("black", "a cat")
    assert named_colour("a golden crown") == ("yellow", "a crown")
    assert named_colour("an orange") == (None, "an orange")  # the fruit
    assert named_colour("a cat") == (None, "a cat")


def test_a_render_with_the_colour_is_kept_and_one_without_is_turned():
    red = np.zeros((16, 16, 4), np.uint8)
    red[4:12, 4:12] = (210, 40, 40, 255)
    image = Image.fromarray(red, "RGBA")
    assert recolour_render(image, "red") is None
    for colour in ("black", "white", "blue", "brown"):
        turned = recolour_render(image, colour)
        assert turned is not None and has_colour(_rgba(turned), colour)
        assert np.array_equal(np.asarray(turned)[..., 3], red[..., 3])  # the silhouette stays


def test_model_keyframes_show_the_colour_their_prompt_names(bundled_engine):
    prompts = ["a black cat", "a white dog"]
    config = MorphConfig(prompts=prompts, frames=3, steps=2, spacing="linear", library=False)
    result = bundled_engine(config)
    plain = bundled_engine(MorphConfig(prompts=prompts, frames=3, steps=2, spacing="linear", library=False,
                                       keyframe_colours=False))  # fmt: skip
    assert result.recoloured == {0: "black", 1: "white"}
    assert plain.recoloured == {}
    for index, colour in result.recoloured.items():
        key = result.keyframe_indices[index]
        assert has_colour(_rgba(result.frames[key]), colour)
        assert not has_colour(_rgba(plain.frames[key]), colour)  # what the model drew alone
    again = bundled_engine(config)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(result.frames, again.frames, strict=True))


def test_prompts_without_a_colour_render_as_before(bundled_engine):
    config = MorphConfig(prompts=["a cat", "a dog"], frames=3, steps=2, spacing="linear", library=False)
    plain = MorphConfig(prompts=config.prompts, frames=3, steps=2, spacing="linear", library=False,
                        keyframe_colours=False)  # fmt: skip
    result, before = bundled_engine(config), bundled_engine(plain)
    assert result.recoloured == {}
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(result.frames, before.frames, strict=True))


def test_settings_files_from_before_keyframe_colours_replay_without_them(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "pixelgif-settings", "version": 2, "morph": {"prompts": ["a", "b"]}}))
    assert read_settings(old)["morph"]["keyframe_colours"] is False
    assert MorphConfig(prompts=["a", "b"]).keyframe_colours is True
    with pytest.raises(ValueError, match="keyframe colours"):
        MorphConfig(prompts=["a", "b"], keyframe_colours="yes")
