"""The option schema: one definition per option, from which the CLI's flags, the web form, batch job
keys and settings reading are built."""

from __future__ import annotations

import argparse
import dataclasses
import inspect

import pytest

from pixelgif.cli import build_parser, main
from pixelgif.encode import EncodeConfig
from pixelgif.morph.config import MorphConfig
from pixelgif.options import (
    ENCODE_FLAGS,
    MODEL_OPTIONS,
    OPTIONS,
    PIXELATE_FLAGS,
    SCHEMA,
    TEXT_OPTIONS,
    merge_settings,
    parse_grid,
    parse_seeds,
)
from pixelgif.pixelate import PixelateConfig
from pixelgif.pixelate.config import REDUCERS
from pixelgif.run import load_engine

CONFIGS = {"morph": MorphConfig, "pixelate": PixelateConfig, "encode": EncodeConfig}


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[name]


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions}


def test_each_option_is_a_field_of_its_config_with_the_configs_default():
    for option in SCHEMA.values():
        if option.section in CONFIGS:
            fields = {f.name: f for f in dataclasses.fields(CONFIGS[option.section])}
            assert option.field in fields, option.name
            assert option.default == fields[option.field].default, option.name
    assert SCHEMA["seed"].default == 0 and SCHEMA["loop_count"].field == "loop" and ENCODE_FLAGS["loop_count"] == "loop"
    assert SCHEMA["reducer"].choices == REDUCERS and SCHEMA["lora_scale"].default == 1.0
    engine_keywords = list(inspect.signature(load_engine).parameters)
    assert list(MODEL_OPTIONS) == [name for name in engine_keywords if name != "progress"]
    assert set(OPTIONS) == {"prompts", "output", *SCHEMA} and len(OPTIONS) == len(set(OPTIONS))


def test_every_option_is_a_morph_flag_built_from_the_schema():
    actions = _actions(_subparser("morph"))
    for option in SCHEMA.values():
        action = actions[option.name]
        assert action.option_strings[0] == option.flags[0] and set(option.flags) <= set(action.option_strings)
        assert action.help == option.help_text() and action.default is None  # None: not given
        assert action.choices == option.choices or option.kind == "switch"
    args = build_parser().parse_args(["morph", "a", "b", "--hold-ms", "5", "--grid", "64x48", "--seed", "3,4",
                                      "--no-library", "--lora", "x", "--lora", "y", "--format", "GIF"])  # fmt: skip
    assert (args.hold, args.grid, args.seed, args.library, args.lora, args.format) == (
        5, (64, 48), [3, 4], False, ["x", "y"], "gif"
    )  # fmt: skip


def test_pixel_art_flags_are_the_same_for_morph_and_pixelate():
    morph, pixelate = _actions(_subparser("morph")), _actions(_subparser("pixelate"))
    for name in PIXELATE_FLAGS:
        a, b = morph[name], pixelate[name]
        assert (a.option_strings, a.help, a.choices, a.metavar) == (b.option_strings, b.help, b.choices, b.metavar)
        assert b.default == SCHEMA[name].default  # pixelate has no settings file: the config's default
    assert pixelate["reducer"].choices == REDUCERS


@pytest.mark.parametrize("command", [["morph", "a", "b", "-o", "x.gif"], ["pixelate", "in.png", "-o", "x.png"]])
def test_a_bad_grid_is_the_same_one_line_error_everywhere(command, capsys):
    from pixelgif.batch.jobs import _option_value
    from pixelgif.web.form import _grid

    with pytest.raises(SystemExit) as exit:
        main([*command, "--grid", "big"])
    assert exit.value.code == 2
    message = "grid must look like 64 or 64x48 (WIDTHxHEIGHT), got 'big'"
    assert message in capsys.readouterr().err
    for parse in (parse_grid, _grid, lambda text: _option_value("grid", text)):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse("big")
    assert [parse_grid(t) for t in ("64", " 64 x 48 ", "64×48", "8X8")] == [(64, 64), (64, 48), (64, 48), (8, 8)]
    assert _grid("") is None and parse_seeds("7,9") == [7, 9]


def test_the_web_form_and_batch_read_the_schema():
    from pixelgif.batch.jobs import csv_rows
    from pixelgif.web.form import FORM_OPTIONS, choices, defaults

    options, values = choices(), defaults()
    for name in FORM_OPTIONS:
        if SCHEMA[name].choices is not None:
            assert options[name] == list(SCHEMA[name].choices)
        if SCHEMA[name].default is not None and name not in ("scale", "grid"):
            assert values[name] == SCHEMA[name].default
    assert {"palette", "scheduler", "model", "dither", "format", "grid", "seed"} <= set(TEXT_OPTIONS)
    ((_, row),) = csv_rows("prompts,grid,seed,frames\na|b,64,3,5\n")
    assert row == {"prompts": "a|b", "grid": "64", "seed": "3", "frames": 5}


def test_the_one_merge_puts_each_option_in_its_section():
    given = {name: None for name in OPTIONS} | {"prompts": ["a", "b"], "seed": [4], "loop_count": 2, "grid": (8, 8),
                                                 "lora_scale": 0.5, "frames": 3}  # fmt: skip
    settings = merge_settings({}, given)
    assert settings["morph"] == {"prompts": ["a", "b"], "seed": 4, "seeds": None, "frames": 3}
    assert settings["pixelate"] == {"grid": (8, 8)} and settings["encode"] == {"loop": 2}
    assert settings["model"] == {"lora_scale": 0.5} and settings["output"] is None
