"""Tests of the built-in palettes and the palette file parsers."""

import numpy as np
import pytest
from PIL import Image

from pixelgif.pixelate import builtin_names, load_palette

EXPECTED_SIZES = {
    "pico-8": 16,
    "gameboy": 4,
    "nes": 55,
    "cga": 16,
    "c64": 16,
    "endesga-32": 32,
    "sweetie-16": 16,
    "aap-64": 64,
    "1-bit": 2,
}


def test_builtin_palettes_have_their_known_sizes_and_no_repeats():
    assert set(EXPECTED_SIZES) <= set(builtin_names())
    for name, size in EXPECTED_SIZES.items():
        palette = load_palette(name)
        assert palette.shape == (size, 3) and palette.dtype == np.uint8
        assert len({tuple(c) for c in palette}) == size


def test_builtin_names_are_forgiving_about_case_and_dashes():
    assert np.array_equal(load_palette("PICO8"), load_palette("pico-8"))
    assert np.array_equal(load_palette("Game Boy"), load_palette("gameboy"))
    assert tuple(load_palette("pico-8")[8]) == (0xFF, 0x00, 0x4D)


def test_unknown_name_lists_the_builtins():
    with pytest.raises(ValueError, match=r"unknown palette 'neon'.*pico-8.*aap-64.*1-bit"):
        load_palette("neon")


def test_gpl_file(tmp_path):
    path = tmp_path / "p.gpl"
    path.write_text(
        "GIMP Palette\nName: Test\nColumns: 4\n# comment\n\n  0   0   0\tBlack\n255 128 7 Orange\n255 128 7 again\n"
    )
    assert load_palette(path).tolist() == [[0, 0, 0], [255, 128, 7]]


def test_hex_file(tmp_path):
    path = tmp_path / "p.hex"
    path.write_text("ff0000\n#00FF00\n\n0000ff\n")
    assert load_palette(str(path)).tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_jasc_pal_file(tmp_path):
    path = tmp_path / "p.pal"
    path.write_text("JASC-PAL\r\n0100\r\n2\r\n10 20 30\r\n40 50 60\r\n")
    assert load_palette(path).tolist() == [[10, 20, 30], [40, 50, 60]]


def test_png_swatch_keeps_reading_order_and_skips_transparent(tmp_path):
    swatch = np.array([[[9, 9, 9, 255], [200, 0, 0, 255]], [[9, 9, 9, 255], [1, 2, 3, 0]]], dtype=np.uint8)
    path = tmp_path / "swatch.png"
    Image.fromarray(swatch, "RGBA").save(path)
    assert load_palette(path).tolist() == [[9, 9, 9], [200, 0, 0]]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.gpl", "GIMP Palette\n0 0 0\n12 300 4 too bright\n", "line 3"),
        ("bad.gpl", "GIMP Palette\n0 0 0\n1 2\n", "line 3"),
        ("bad.gpl", "Not a palette\n0 0 0\n", "line 1"),
        ("bad.hex", "ff0000\nff00zz\n", "line 2.*'ff00zz'"),
        ("bad.hex", "\n\n", "no colours"),
        ("bad.pal", "JASC-PAL\n0100\n3\n1 2 3\n4 5 6\n", "says 3 colours"),
        ("bad.pal", "JASC-PAL\n0100\n2\n1 2 3\n4 five 6\n", "line 5"),
        ("bad.pal", "RIFF....", "not a JASC palette"),
    ],
)
def test_bad_palette_files_name_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_palette(path)


def test_missing_unknown_type_and_oversized_palettes(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_palette(tmp_path / "nope.gpl")
    (tmp_path / "p.aco").write_text("x")
    with pytest.raises(ValueError, match="unknown palette file type"):
        load_palette(tmp_path / "p.aco")
    codes = np.arange(300)
    big = np.stack([codes % 256, codes // 256, np.zeros(300, int)], axis=1).reshape(1, 300, 3)
    Image.fromarray(big.astype(np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="at most 256"):
        load_palette(tmp_path / "big.png")
    with pytest.raises(ValueError, match="Kx3"):
        load_palette(np.zeros((4, 4), dtype=np.uint8))
