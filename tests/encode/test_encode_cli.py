"""Output formats from the command line: spritesheets and frame folders from `morph` and `pixelate`,
--hold-ms, --from with a spritesheet, and bad input (one line, exit != 0, no file left)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from pixelgif.cli import build_parser, main
from pixelgif.cli.morph import build_request
from pixelgif.encode import FORMATS

FAST = ["--steps", "2", "--frames", "3", "--quiet"]


def run(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def anim(tmp_path):
    """Return a folder of 4 little RGBA frames (a square moving over a transparent background)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        rgba = np.zeros((16, 16, 4), np.uint8)
        rgba[4:10, 2 + 2 * i : 8 + 2 * i] = (200, 40, 40, 255)
        rgba[10:14, :] = (40, 90, 200, 255)
        Image.fromarray(rgba).save(folder / f"f{i}.png")
    return folder


def test_hold_ms_and_its_alias():
    parser = build_parser()
    for flag in ("--hold-ms", "--hold"):
        args = parser.parse_args(["morph", "a", "b", flag, "250", "-o", "x.gif"])
        assert build_request(args).encode.hold == 250


def test_keep_palette_order_flag(anim, tmp_path, capsys):
    parser = build_parser()
    assert build_request(parser.parse_args(["morph", "a", "b", "-o", "x.gif"])).encode.keep_palette_order is False
    args = parser.parse_args(["morph", "a", "b", "--keep-palette-order", "-o", "x.gif"])
    assert build_request(args).encode.keep_palette_order is True
    # pixelate: 16-colour art drawn with a 256-entry palette keeps all 256 entries only when asked
    sizes = {}
    for flags in ([], ["--keep-palette-order"]):
        path = tmp_path / f"a{len(flags)}.gif"
        code, _out, err = run(capsys, "pixelate", anim, "-o", path, "--pixel-size", "1", "--palette", "pico-8", *flags)
        assert code == 0, err
        sizes[len(flags)] = 2 << (path.read_bytes()[10] & 7)
    assert sizes[1] >= 16 > sizes[0]


def test_pixelate_spritesheet_and_frames(anim, tmp_path, capsys):
    code, out, err = run(capsys, "pixelate", anim, "-o", tmp_path / "s.png", "--format", "spritesheet",
                         "--pixel-size", "1", "--boomerang", "--loop-count", "2")  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 's.png'} + s.json (4 frames")
    data = json.loads((tmp_path / "s.json").read_text())
    assert len(data["frames"]) == 4 and data["meta"]["size"] == {"w": 32, "h": 32}
    assert data["meta"]["frameTags"][0]["direction"] == "pingpong" and data["meta"]["frameTags"][0]["repeat"] == "2"
    code, out, err = run(capsys, "pixelate", anim, "-o", tmp_path / "frames", "--pixel-size", "1", "--scale", "2")
    assert code == 0, err
    names = sorted(os.listdir(tmp_path / "frames"))
    assert names == [f"frame_{i:04d}.png" for i in range(4)]
    with Image.open(tmp_path / "frames" / names[0]) as image:
        assert image.mode == "P" and image.size == (32, 32)


BAD = [
    (["-o", "x.jpg"], "cannot tell the format"),
    (["-o", "x.gif", "--format", "jpeg"], "unknown format 'jpeg'"),
    (["-o", "x.gif", "--duration", "0"], "duration must be a whole number"),
    (["-o", "x.gif", "--duration", "-20"], "duration must be a whole number"),
    (["-o", "x.gif", "--scale", "0"], "scale must be a whole number from 1"),
    (["-o", "x.gif", "--scale", "-2"], "scale must be a whole number from 1"),
    (["-o", "x.gif", "--scale", "1.5"], "invalid int value: '1.5'"),
    (["-o", "missing/x.gif"], "does not exist"),
    (["-o", "missing/sheet.png", "--format", "spritesheet"], "does not exist"),
    (["-o", "missing/frames/"], "does not exist"),
    (["-o", "x.gif", "--loop-count", "-1"], "loop must be a whole number"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[m for _, m in BAD])
def test_pixelate_bad_output_is_one_line_and_writes_nothing(anim, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    try:
        code, _out, err = run(capsys, "pixelate", anim, *argv)
    except SystemExit as exit_:  # argparse's own errors
        code, err = exit_.code, capsys.readouterr().err
    assert code != 0 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_unknown_format_lists_the_known_ones(anim, tmp_path, capsys):
    code, _, err = run(capsys, "pixelate", anim, "-o", tmp_path / "x.tga")
    assert code == 1 and all(name in err for name in FORMATS)


def test_zero_frames_and_mixed_sizes(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "pixelate", tmp_path / "empty", "-o", tmp_path / "x.gif")
    assert code == 1 and "has no images" in err
    (tmp_path / "mixed").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "mixed" / "a.png")
    Image.new("RGB", (9, 8), "blue").save(tmp_path / "mixed" / "b.png")
    code, _, err = run(capsys, "pixelate", tmp_path / "mixed", "-o", tmp_path / "x.gif")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["empty", "mixed"]


def test_morph_spritesheet_settings_and_from(tiny_sd, tmp_path, capsys):
    sheet = tmp_path / "m.png"
    code, _out, err = run(capsys, "morph", "a red dragon", "a blue whale", "--model", tiny_sd, *FAST,
                         "--format", "spritesheet", "--hold-ms", "300", "-o", sheet)  # fmt: skip
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.png", "m.settings.json"]
    data = json.loads((tmp_path / "m.json").read_text())
    assert [f["duration"] for f in data["frames"]] == [400, 100, 100, 400]  # keyframes held
    assert data["frames"][0]["frame"]["w"] == 32  # native size by default
    assert [t["name"] for t in data["meta"]["frameTags"]] == ["animation", "keyframe 0 to 1"]
    code, _out, err = run(capsys, "morph", "--from", tmp_path / "m.settings.json", "-o", tmp_path / "again.png")
    assert code == 0, err
    assert (tmp_path / "again.png").read_bytes() == sheet.read_bytes()
    assert (tmp_path / "again.json").exists()
    code, _out, err = run(capsys, "morph", "--from", tmp_path / "m.settings.json", "-o", tmp_path / "again.gif")
    assert code == 0, err  # a new suffix decides the format
    assert (tmp_path / "again.gif").read_bytes()[:6] == b"GIF89a"
