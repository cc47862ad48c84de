"""MorphConfig validation, scheduler names and the settings file: no model needed."""

import json

import pytest

from pixelgif.errors import PixelgifError
from pixelgif.morph.config import SCHEDULERS, MorphConfig, canonical_scheduler
from pixelgif.settings import build_settings, config_from_dict, read_settings, write_settings


def test_defaults_and_derived_values():
    config = MorphConfig(prompts=["a", "b", "c"])
    assert config.frames == 12 and not config.loop and config.seed == 0
    assert config.keyframe_seeds == [0, 1, 2]
    assert config.num_frames == 2 * 12 + 1
    assert MorphConfig(prompts=["a", "b", "c"], loop=True, frames=4).num_frames == 12
    assert MorphConfig(prompts=["a", "b"], seed=10).keyframe_seeds == [10, 11]
    assert MorphConfig(prompts=["a", "b"], seeds=[5, 3]).keyframe_seeds == [5, 3]
    assert MorphConfig(prompts=["a", "b"], negative_prompt="").negative_prompt is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompts": ["only one"]}, "at least two prompts, got 1"),
        ({"prompts": "a string"}, "list of two or more"),
        ({"prompts": ["a", "  "]}, "prompt 2 is empty"),
        ({"frames": 1}, "frames per transition must be a whole number from 2 to 1000"),
        ({"frames": 100_000}, "frames per transition must be a whole number from 2 to 1000, got 100000"),
        ({"steps": 5000}, "steps must be a whole number from 1 to 1000"),
        ({"width": 100_000}, "width must be a whole number from 8 to 4096"),
        ({"frames": 2.5}, "whole number"),
        ({"steps": 0}, "steps must be a whole number from 1 to 1000"),
        ({"width": 100}, "width must be a multiple of 8, got 100 (try 96 or 104)"),
        ({"height": 0}, "height must be a whole number from 8 to 4096"),
        ({"guidance_scale": -1.0}, "guidance scale must be a number of at least 0"),
        ({"guidance_scale": float("nan")}, "guidance scale must be a number of at least 0"),
        ({"scheduler": "fancy"}, "choose one of: DDIM"),
        ({"easing": "bounce"}, "linear, ease-in-out"),
        ({"text_interpolation": "cubic"}, "linear, slerp"),
        ({"seed": -1}, "seed must be a whole number from 0 to"),
        ({"seeds": [1]}, "got 1 seeds for 2 prompts"),
        ({"batch_size": 0}, "batch size must be a whole number of at least 1"),
    ],
)
def test_bad_values_raise_helpful_errors(kwargs, message):
    kwargs = {"prompts": ["a", "b"], **kwargs}
    with pytest.raises(ValueError) as info:
        MorphConfig(**kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_scheduler_lists_every_valid_one():
    with pytest.raises(ValueError) as info:
        MorphConfig(prompts=["a", "b"], scheduler="nope")
    assert all(name in str(info.value) for name in SCHEDULERS)


@pytest.mark.parametrize(
    "given, canonical",
    [("ddim", "DDIM"), ("dpm++", "DPM-Solver++"), ("dpmsolver++", "DPM-Solver++"), ("euler_a", "Euler-a"),
     ("EULER-A", "Euler-a"), ("unipc", "UniPC"), ("default", None), (None, None)],
)  # fmt: skip
def test_scheduler_names_are_forgiving(given, canonical):
    assert canonical_scheduler(given) == canonical


def test_config_dict_round_trip():
    config = MorphConfig(prompts=["a", "b"], seeds=[4, 9], steps=3, scheduler="euler", loop=True)
    again = MorphConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ValueError, match="unknown morph setting"):
        MorphConfig.from_dict({**config.to_dict(), "sparkle": 1})


def test_settings_file_round_trip(tmp_path):
    from pixelgif.encode import EncodeConfig
    from pixelgif.pixelate import PixelateConfig

    morph = MorphConfig(prompts=["a", "b"], steps=2)
    pixelate = PixelateConfig(grid=(16, 12), palette=[[0, 0, 0], [255, 255, 255]])
    encode = EncodeConfig(duration=(50, 60), hold=200)
    settings = build_settings(model={"model": "x"}, morph=morph, pixelate=pixelate, encode=encode, output="o.gif")
    path = write_settings(tmp_path / "o.json", settings)
    assert path.name == "o.json"
    data = read_settings(path)
    assert {"torch", "diffusers", "pixelgif"} <= set(data["versions"])
    assert config_from_dict(MorphConfig, data["morph"], "morph") == morph
    assert config_from_dict(PixelateConfig, data["pixelate"], "pixelate").grid == (16, 12)
    assert config_from_dict(EncodeConfig, data["encode"], "encode").duration == (50, 60)


@pytest.mark.parametrize(
    "content, message",
    [(None, "settings file not found"), ("{not json", "not valid JSON"), ('{"a": 1}', "not a pixelgif settings file"),
     ('{"format": "pixelgif-settings", "version": 99}', "upgrade pixelgif")],
)  # fmt: skip
def test_bad_settings_files(tmp_path, content, message):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PixelgifError, match=message):
        read_settings(path)
