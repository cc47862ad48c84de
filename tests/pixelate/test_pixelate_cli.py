"""Tests of ``pixelgif pixelate`` through ``pixelgif.cli.main``."""

import numpy as np
import pytest
from PIL import Image

from pixelgif.cli import main


def _save_image(path, size=(32, 24), seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    if mode == "RGBA":
        array[..., 3] = np.where(array[..., 3] > 100, 255, 0)
    Image.fromarray(array, mode).save(path)
    return path


def _save_gif(path, frames=3, size=(32, 32)):
    images = [Image.fromarray(np.full((size[1], size[0], 3), 40 * i + 20, np.uint8)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=[50, 70, 90][:frames], loop=0)
    return path


def test_single_image_becomes_one_indexed_png(tmp_path, capsys):
    source = _save_image(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["pixelate", str(source), "-o", str(out), "--grid", "8x6", "--colors", "4", "--scale", "3"]) == 0
    with Image.open(out) as image:
        assert image.mode == "P" and image.size == (24, 18)
        assert len(np.unique(np.asarray(image))) <= 4
    assert "wrote" in capsys.readouterr().out


def test_animated_gif_in_gives_animation_on_one_palette(tmp_path):
    out = tmp_path / "out.gif"
    assert (
        main(
            [
                "pixelate",
                str(_save_gif(tmp_path / "in.gif")),
                "-o",
                str(out),
                "--pixel-size",
                "4",
                "--palette",
                "gameboy",
            ]
        )
        == 0
    )
    with Image.open(out) as image:
        assert image.n_frames == 3 and image.size == (8, 8)
        palettes = set()
        for frame in range(3):
            image.seek(frame)
            palettes.add(tuple(image.getpalette() or ()))
            assert image.info["duration"] == [50, 70, 90][frame]
        allowed = {(0x0F, 0x38, 0x0F), (0x30, 0x62, 0x30), (0x8B, 0xAC, 0x0F), (0x9B, 0xBC, 0x0F)}
        image.seek(2)
        assert {tuple(c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)} <= allowed


def test_folder_of_frames_in_name_order(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):
        Image.fromarray(np.full((16, 16, 4), (i * 20, 0, 0, 255), np.uint8)).save(folder / f"frame{i}.png")
    out = tmp_path / "out.png"
    assert (
        main(["pixelate", str(folder), "-o", str(out), "--pixel-size", "2", "--colors", "3", "--dither", "none"]) == 0
    )
    with Image.open(out) as image:
        assert image.n_frames == 3
        reds = []
        for frame in range(3):
            image.seek(frame)
            reds.append(image.convert("RGB").getpixel((0, 0))[0])
    assert reds == [20, 40, 200]


def test_detect_grid_restores_true_pixels(tmp_path):
    rng = np.random.default_rng(2)
    small = rng.integers(0, 4, (12, 16)) * 80
    Image.fromarray(small.astype(np.uint8)).convert("RGB").resize((128, 96), Image.Resampling.NEAREST).save(
        tmp_path / "big.png"
    )
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "pixelate",
                str(tmp_path / "big.png"),
                "-o",
                str(out),
                "--detect-grid",
                "--colors",
                "4",
                "--dither",
                "none",
            ]
        )
        == 0
    )
    with Image.open(out) as image:
        assert image.size == (16, 12)
        assert np.array_equal(np.asarray(image.convert("L")), small)


def _bad_gpl(tmp_path):
    path = tmp_path / "bad.gpl"
    path.write_text("GIMP Palette\nName: test\n0 0 0 black\n255 x 0 oops\n")
    return path


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d: [str(d / "missing.png")], "input not found"),
        (lambda d: [str(_text_file(d))], "not an image"),
        (lambda d: [str(_empty_folder(d))], "has no images"),
        (lambda d: [str(_save_image(d / "in.png")), "--colors", "1"], "colors must be an integer from 2 to 256"),
        (lambda d: [str(_save_image(d / "in.png")), "--colors", "999"], "colors must be an integer from 2 to 256"),
        (lambda d: [str(_save_image(d / "in.png")), "--palette", str(_bad_gpl(d))], "line 4"),
        (lambda d: [str(_save_image(d / "in.png")), "--palette", "vaporwave"], "pico-8, gameboy, nes"),
        (lambda d: [str(_save_image(d / "in.png")), "--grid", "64x64"], "larger than the image"),
        (lambda d: [str(_save_image(d / "in.png")), "--grid", "0x4"], "at least 1x1"),
        (lambda d: [str(_save_image(d / "in.png")), "--pixel-size", "1000"], "larger than the"),
        (lambda d: [str(_save_image(d / "in.png")), "--pixel-size", "0"], "pixel size"),
        (lambda d: [str(_save_image(d / "in.png")), "--grid", "8x8", "--pixel-size", "2"], "conflicting"),
        (lambda d: [str(_save_image(d / "in.png")), "--reducer", "dominant", "--dither", "bayer4"], "conflicting"),
        (lambda d: [str(_save_image(d / "in.png")), "--palette", "1-bit", "--colors", "4"], "palette"),
        (lambda d: [str(_save_image(d / "in.png")), str(_save_image(d / "b.png", size=(8, 8)))], "same size"),
    ],
)
def test_bad_input_gives_one_line_and_no_file(tmp_path, capsys, make_args, message):
    out = tmp_path / "out" / "result.gif"
    out.parent.mkdir()
    code = main(["pixelate", *make_args(tmp_path), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("pixelgif: error:") and "\n" not in err and message in err
    assert list(out.parent.iterdir()) == []


def _text_file(folder):
    path = folder / "notes.png"
    path.write_text("this is not a picture")
    return path


def _empty_folder(folder):
    path = folder / "empty"
    path.mkdir()
    (path / "readme.txt").write_text("no frames here")
    return path


def test_help_says_ordered_dithering_is_the_default_for_animations(capsys):
    with pytest.raises(SystemExit):
        main(["pixelate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Bayer 4x4 for animations" in text and "stable across frames" in text


def test_one_small_image_loads_no_numba_scipy_or_torch(tmp_path):
    # Start-up is most of the command's time for a small image: numba (~0.5 s with its CPU target),
    # scipy and torch & co. must not load on this path (small jobs run the kernels without numba).
    import subprocess
    import sys

    source = _save_image(tmp_path / "in.png", size=(64, 64))
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['pixelgif', 'pixelate', {str(source)!r}, '-o', {str(tmp_path / 'out.png')!r}]\n"
        "try:\n    runpy.run_module('pixelgif', run_name='__main__')\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "heavy = ('numba', 'scipy', 'torch', 'diffusers', 'transformers', 'gradio', 'sklearn')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == ""
    assert (tmp_path / "out.png").exists()
