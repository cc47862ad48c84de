"""Image keyframes without a model: telling paths from prompts, reading and fitting images, bad input,
the settings record, and a palette that keeps the keyframes' colours exactly."""

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelgif.cli import main
from pixelgif.errors import PixelgifError
from pixelgif.morph.config import MorphConfig
from pixelgif.morph.keyframes import Keyframe, fit_image, parse_keyframe, read_keyframe_image
from pixelgif.pixelate import PixelateConfig, pixelate_frames
from pixelgif.pixelate.palette import fit_palette

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from make_image_keyframe_example import butterfly, caterpillar


@pytest.fixture
def sprites(tmp_path):
    caterpillar().save(tmp_path / "cat.png")
    butterfly().save(tmp_path / "fly.webp", lossless=True)
    caterpillar().convert("RGB").save(tmp_path / "cat.jpg", quality=95)
    frames = [butterfly(), caterpillar()]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    return tmp_path


def _png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def same_pixels(a, b) -> bool:
    """Return True when two RGBA images show the same: equal alpha, equal colour wherever visible."""
    a, b = np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA"))
    visible = a[..., 3] > 0
    return np.array_equal(a[..., 3], b[..., 3]) and np.array_equal(a[visible, :3], b[visible, :3])


def test_paths_and_prompts_are_told_apart(sprites, monkeypatch):
    monkeypatch.chdir(sprites)
    image = parse_keyframe("cat.png", caption="a caterpillar")
    assert isinstance(image, Keyframe) and image.image == str(sprites / "cat.png") and image.caption == "a caterpillar"
    assert parse_keyframe("a red dragon") == "a red dragon"
    assert parse_keyframe("prompt:cat.png") == "cat.png"  # forced prompt, even though the file exists
    assert isinstance(parse_keyframe("image:cat.png"), Keyframe)
    assert parse_keyframe("a sunset.") == "a sunset."
    with pytest.raises(
        PixelgifError, match=r"read as an image file, but there is no such file; write prompt:knight\.png"
    ):
        parse_keyframe("knight.png")
    with pytest.raises(PixelgifError, match="image keyframe not found"):
        parse_keyframe("image:knight")


def test_formats_modes_and_first_gif_frame(sprites):
    png, webp = read_keyframe_image(sprites / "cat.png"), read_keyframe_image(sprites / "fly.webp")
    assert png.mode == "RGBA" and np.array_equal(np.asarray(png), np.asarray(caterpillar()))
    assert np.array_equal(np.asarray(webp), np.asarray(butterfly()))
    assert read_keyframe_image(sprites / "cat.jpg").mode == "RGBA"
    first = read_keyframe_image(sprites / "anim.gif")
    opaque = np.asarray(butterfly())[..., 3] > 0
    assert np.array_equal(np.asarray(first)[..., 3] > 0, opaque)  # the first frame, transparency kept


def test_fit_scales_small_pixel_art_by_a_whole_factor_and_centres_other_shapes():
    small = caterpillar().resize((16, 16), Image.Resampling.NEAREST)
    fitted = fit_image(small, 32, 32)
    assert np.array_equal(np.asarray(fitted), np.asarray(small.resize((32, 32), Image.Resampling.NEAREST)))
    wide = butterfly().crop((0, 0, 32, 16))  # 2:1, fits 32 wide: 32x16 in the middle, transparent above and below
    fitted = np.asarray(fit_image(wide, 32, 32))
    assert np.array_equal(fitted[8:24], np.asarray(wide)) and not fitted[:8, :, 3].any() and not fitted[24:, :, 3].any()
    big = caterpillar().resize((64, 64), Image.Resampling.NEAREST)  # 2x upscaled pixel art comes back exactly
    assert same_pixels(fit_image(big, 32, 32), caterpillar())
    odd = fit_image(caterpillar().resize((20, 20), Image.Resampling.NEAREST), 32, 32)  # 1x, centred
    assert np.asarray(odd)[6:26, 6:26, 3].any() and not np.asarray(odd)[:6, :, 3].any()
    rgb = fit_image(caterpillar(), 64, 64, rgba=False)  # RGB models: 2x, transparency on white
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.png", b"just some text", "not an image"),
        ("zero.png", _png(0, 0), r"is empty \(no frames or no pixels\) or damaged"),
        ("broken.png", _png(8, 8)[:20], "damaged"),
        ("noframes.gif", b"GIF89a" + struct.pack("<HHBBB", 8, 8, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff;", "no frames"),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(PixelgifError, match=message):
        read_keyframe_image(tmp_path / name)


def test_empty_and_invisible_images_are_rejected(tmp_path):
    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(tmp_path / "clear.png")
    with pytest.raises(PixelgifError, match="fully transparent"):
        read_keyframe_image(tmp_path / "clear.png")
    with pytest.raises(PixelgifError, match=r"is empty \(0x0 pixels\)"):
        Keyframe(image=Image.new("RGBA", (0, 0)))


def test_settings_record_path_caption_and_hash_and_detect_a_changed_file(sprites):
    config = MorphConfig(prompts=[Keyframe(image=sprites / "cat.png", caption="a caterpillar"), "a butterfly"])
    record = config.to_dict()["prompts"]
    assert record[0]["image"] == str(sprites / "cat.png") and record[0]["caption"] == "a caterpillar"
    assert len(record[0]["sha256"]) == 64 and record[1] == "a butterfly"
    again = MorphConfig.from_dict(config.to_dict())
    assert again.image_keyframes[0].image == str(sprites / "cat.png") and again.keyframe_texts[1] == "a butterfly"
    butterfly().save(sprites / "cat.png")
    with pytest.raises(PixelgifError, match="has changed since the settings file was written"):
        MorphConfig.from_dict(config.to_dict())
    in_memory = MorphConfig(prompts=[caterpillar(), "x"]).to_dict()["prompts"][0]
    with pytest.raises(PixelgifError, match="in-memory image"):
        MorphConfig(prompts=[in_memory, "x"])


def test_fitted_palette_keeps_fixed_colours_exactly():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (5000, 3), dtype=np.uint8)
    fixed = np.array([[12, 200, 7], [250, 250, 3], [1, 2, 3]], np.uint8)
    palette = fit_palette(colours, 8, fixed=fixed)
    assert len(palette) == 8 and {tuple(c) for c in fixed} <= {tuple(c) for c in palette}
    assert np.array_equal(fit_palette(colours, 2, fixed=fixed), fit_palette(np.concatenate([colours, fixed]), 2))


def test_exact_frames_keep_their_pixels_under_dither_and_a_shared_palette():
    sprite = np.asarray(caterpillar())
    rng = np.random.default_rng(1)
    noisy = [np.concatenate([rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), sprite[..., 3:]], -1) for _ in range(3)]
    art = pixelate_frames([sprite, *noisy], PixelateConfig(pixel_size=1, dither="bayer4"), exact=[0])
    back = np.asarray(art.images[0].convert("RGBA"))
    opaque = sprite[..., 3] >= 128
    assert np.array_equal(back[..., 3] > 0, opaque) and np.array_equal(back[opaque, :3], sprite[opaque, :3])
    plain = pixelate_frames([sprite, *noisy], PixelateConfig(pixel_size=1, dither="bayer4"))
    assert not np.array_equal(np.asarray(plain.images[0].convert("RGBA"))[opaque, :3], sprite[opaque, :3])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cat.png", "knight.png"], "'knight.png' was read as an image file, but there is no such file"),
        (["cat.png", "notes.png"], "not an image"),
        (["cat.png", "clear.png"], "fully transparent"),
        (["cat.png", "folder.png"], "names a folder"),
        (["cat.png", "a wizard", "--caption", "a", "--caption", "b"], "2 --caption for 1 image keyframe"),
        (["cat.png", "a wizard", "--midway-guidance", "2"], "midway guidance must be a number"),
    ],
)
def test_bad_image_input_fails_in_one_line_and_writes_nothing(sprites, monkeypatch, capsys, args, message):
    monkeypatch.chdir(sprites)
    (sprites / "notes.png").write_text("hello")
    Image.new("RGBA", (4, 4)).save(sprites / "clear.png")
    (sprites / "folder.png").mkdir()
    before = set(Path(sprites).iterdir())
    code = main(["morph", *args, "-o", "out.gif"])
    err = capsys.readouterr().err
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert set(Path(sprites).iterdir()) == before
