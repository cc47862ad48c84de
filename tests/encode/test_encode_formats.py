"""Encode stage: every lossless format round trips, the Aspeprite sheet data, MP4 read back, GIF size."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
from encode_helpers import PALETTE, expected_rgba, p_images, read_indices, same_rgba, sprite_indices
from PIL import Image

from pixelgif import encode
from pixelgif.encode import FORMATS, EncodeConfig, write_animation
from pixelgif.encode.spritesheet import frame_file_name, sheet_columns
from pixelgif.errors import PixelgifError

SUFFIX = {"gif": "a.gif", "apng": "a.png", "webp": "a.webp", "spritesheet": "a.png", "frames": "a"}


def decode(path, fmt):
    """Return (frames as P arrays or RGBA arrays, palette bytes or None, durations, loop) read back."""
    if fmt == "gif":
        arrays, palette, infos = read_indices(path)
        return arrays, palette, [i["duration"] for i in infos], infos[0].get("loop", "once")
    if fmt == "spritesheet":
        data = json.loads(path.with_suffix(".json").read_text())
        with Image.open(path) as sheet:
            sheet.load()
            frames = [np.array(sheet)[f["frame"]["y"] : f["frame"]["y"] + f["frame"]["h"],
                                      f["frame"]["x"] : f["frame"]["x"] + f["frame"]["w"]] for f in data["frames"]]  # fmt: skip
            whole = data["meta"]["frameTags"][0]
            return (
                frames,
                bytes(sheet.getpalette()),
                [f["duration"] for f in data["frames"]],
                int(whole.get("repeat", 0)),
            )
    if fmt == "frames":
        frames, palettes = [], set()
        for i in range(len(list(path.iterdir()))):
            with Image.open(path / frame_file_name(i)) as image:
                frames.append(np.array(image))
                palettes.add(bytes(image.getpalette()))
        assert len(palettes) == 1
        return frames, palettes.pop(), None, None
    frames, durations = [], []
    with Image.open(path) as image:
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.array(image) if fmt == "apng" else np.array(image.convert("RGBA")))
            durations.append(image.info["duration"])
        palette = bytes(image.getpalette()) if fmt == "apng" else None
        return frames, palette, durations, image.info.get("loop")


@pytest.mark.parametrize("fmt", [f.name for f in FORMATS.values() if f.lossless])
@pytest.mark.parametrize("transparent", [None, 0])
def test_every_lossless_format_round_trips(tmp_path, fmt, transparent):
    """Pixels (indices where the format keeps a palette) and palette, frame count, durations, loop."""
    arrays = sprite_indices(count=5, transparent=transparent, seed=2)
    # Only GIF compacts its palette by default; every other format keeps indices and palette as given.
    config = EncodeConfig(
        duration=[80, 90, 100, 110, 120], hold=200, loop=3, format=fmt, keep_palette_order=fmt == "gif"
    )
    path = write_animation(p_images(arrays, transparent=transparent), tmp_path / SUFFIX[fmt], config, keyframes=[0, 4])
    frames, palette, durations, loop = decode(path, fmt)
    assert len(frames) == 5
    if fmt == "webp":  # WebP has no palette: compare colours
        lut = np.concatenate([PALETTE, np.full((len(PALETTE), 1), 255, np.uint8)], 1)
        if transparent is not None:
            lut[transparent] = 0
        for got, want in zip(frames, arrays, strict=True):
            got[got[..., 3] == 0] = 0
            assert np.array_equal(got, lut[want])
    else:
        for got, want in zip(frames, arrays, strict=True):
            assert np.array_equal(got, want)
        assert palette[: PALETTE.size] == PALETTE.tobytes()
    if fmt != "frames":  # a folder of PNGs has no timing
        assert durations == [280, 90, 100, 110, 320]
        assert loop == (2 if fmt == "gif" else 3)  # GIF stores repeats after the first play


def test_formats_have_descriptions_and_the_error_lists_them(tmp_path):
    assert {"gif", "webp", "apng", "mp4", "spritesheet", "frames"} == set(FORMATS)
    assert all(isinstance(f.description, str) and f.description for f in FORMATS.values())
    with pytest.raises(PixelgifError) as error:
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.jpg")
    assert all(name in str(error.value) for name in FORMATS)
    with pytest.raises(ValueError, match=", ".join(FORMATS)):
        EncodeConfig(format="tiff")
    assert list(tmp_path.iterdir()) == []


# --- spritesheet ---------------------------------------------------------------------------


def check_aseprite(data: dict, sheet: Image.Image) -> None:
    """Assert the json-array fields Aseprite writes, and that the frames tile the sheet exactly."""
    assert set(data) == {"frames", "meta"} and isinstance(data["frames"], list)
    meta = data["meta"]
    assert {"app", "version", "image", "format", "size", "scale", "frameTags"} <= set(meta)
    assert meta["size"] == {"w": sheet.width, "h": sheet.height} and isinstance(meta["scale"], str)
    assert meta["format"] == ("I8" if sheet.mode == "P" else "RGBA8888")
    covered = np.zeros((sheet.height, sheet.width), int)
    for frame in data["frames"]:
        assert set(frame) == {"filename", "frame", "rotated", "trimmed", "spriteSourceSize", "sourceSize", "duration"}
        r = frame["frame"]
        assert set(r) == {"x", "y", "w", "h"} and all(isinstance(v, int) for v in r.values())
        assert frame["rotated"] is False and frame["trimmed"] is False
        assert frame["spriteSourceSize"] == {"x": 0, "y": 0, "w": r["w"], "h": r["h"]}
        assert frame["sourceSize"] == {"w": r["w"], "h": r["h"]}
        assert isinstance(frame["duration"], int) and frame["duration"] > 0
        covered[r["y"] : r["y"] + r["h"], r["x"] : r["x"] + r["w"]] += 1
    assert (covered == 1).all(), "frame rectangles must cover the sheet exactly, without overlap"
    for tag in meta["frameTags"]:
        assert {"name", "from", "to", "direction"} <= set(tag)
        assert 0 <= tag["from"] <= tag["to"] < len(data["frames"])
        assert tag["direction"] in ("forward", "reverse", "pingpong")


@pytest.mark.parametrize("count", [1, 2, 6, 7, 12, 13])
def test_spritesheet_json_is_aseprite_and_tiles_the_sheet(tmp_path, count):
    arrays = sprite_indices(count=count, size=8, seed=count)
    path = write_animation(p_images(arrays), tmp_path / "walk.png", EncodeConfig(format="spritesheet", scale=2))
    data = json.loads((tmp_path / "walk.json").read_text())
    with Image.open(path) as sheet:
        check_aseprite(data, sheet)
        assert sheet.mode == "P" and len(data["frames"]) == count
    assert data["meta"]["image"] == "walk.png" and data["meta"]["scale"] == "2"
    assert data["frames"][0]["frame"]["w"] == 16  # scaled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.json", "walk.png"]


def test_spritesheet_tags_keyframes_boomerang_and_loop(tmp_path):
    config = EncodeConfig(format="spritesheet", boomerang=True, loop=2)
    write_animation(p_images(sprite_indices(count=9)), tmp_path / "m.png", config, keyframes=[0, 3, 6])
    tags = json.loads((tmp_path / "m.json").read_text())["meta"]["frameTags"]
    assert [(t["name"], t["from"], t["to"], t["direction"]) for t in tags] == [
        ("animation", 0, 8, "pingpong"),
        ("keyframe 0 to 1", 0, 3, "forward"),
        ("keyframe 1 to 2", 3, 6, "forward"),
        ("keyframe 2 to 0", 6, 8, "forward"),
    ]
    assert tags[0]["repeat"] == "2" and "repeat" not in tags[1]


def test_sheet_columns():
    assert [sheet_columns(n, 32) for n in (1, 4, 6, 12, 13, 24)] == [1, 2, 3, 4, 13, 6]
    assert sheet_columns(997, 64) < 997  # a strip wider than a texture falls back to a square grid


def test_rgb_frames_make_an_rgba_sheet(tmp_path):
    rng = np.random.RandomState(0)
    frames = [Image.fromarray(rng.randint(0, 256, (6, 5, 4)).astype(np.uint8)) for _ in range(3)]
    path = write_animation(frames, tmp_path / "s.png", EncodeConfig(format="spritesheet"))
    data = json.loads((tmp_path / "s.json").read_text())
    with Image.open(path) as sheet:
        check_aseprite(data, sheet)
        assert sheet.mode == "RGBA"
        pixels = np.array(sheet)
    for frame, entry in zip(frames, data["frames"], strict=True):
        r = entry["frame"]
        assert np.array_equal(pixels[r["y"] : r["y"] + r["h"], r["x"] : r["x"] + r["w"]], np.array(frame))


def test_failed_spritesheet_keeps_the_old_pair(tmp_path, monkeypatch):
    old = {"s.png": b"old png", "s.json": b"old json"}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)

    def broken(frameset, target, config):
        target.files[0].write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setitem(encode.FORMATS, "spritesheet", dataclasses.replace(encode.FORMATS["spritesheet"], write=broken))
    with pytest.raises(OSError):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "s.png", EncodeConfig(format="spritesheet"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old


# --- folder of PNGs ------------------------------------------------------------------------


def test_frames_folder_replaces_its_own_folder_only(tmp_path):
    images = p_images(sprite_indices(count=3))
    out = write_animation(images, tmp_path / "frames")
    assert sorted(p.name for p in out.iterdir()) == [frame_file_name(i) for i in range(3)]
    write_animation(images[:2], out)  # our own folder: replaced whole
    assert sorted(p.name for p in out.iterdir()) == [frame_file_name(i) for i in range(2)]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(PixelgifError, match="other files"):
        write_animation(images, out)
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no temporary folder left


def test_failed_frames_folder_keeps_the_old_one(tmp_path, monkeypatch):
    images = p_images(sprite_indices(count=3))
    out = write_animation(images, tmp_path / "frames")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(frameset, target, config):
        (target.files[0] / frame_file_name(0)).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setitem(encode.FORMATS, "frames", dataclasses.replace(encode.FORMATS["frames"], write=broken))
    with pytest.raises(OSError):
        write_animation(p_images(sprite_indices(count=2, seed=9)), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


# --- MP4 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size,scale,expected", [(16, 3, (48, 48)), (15, 1, (16, 16)), (9, 4, (36, 36))])
def test_mp4_frame_count_and_size_read_back(tmp_path, size, scale, expected):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    arrays = sprite_indices(count=4, size=size)
    config = EncodeConfig(scale=scale, duration=[100, 200, 100, 300])
    path = write_animation(p_images(arrays, transparent=0), tmp_path / "a.mp4", config)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(expected[1], expected[0], 3) for f in reader]
    assert tuple(meta["size"]) == expected  # even sides: odd ones padded by one row/column
    assert len(frames) == 7  # 700 ms at 10 fps
    assert "yuv420p" in meta["codec"] or meta["pix_fmt"].startswith("yuv420p")
    # Nearest-neighbour upscale keeps flat colours: the middle of a big art pixel is near its colour.
    if scale >= 3:
        lut = PALETTE.astype(int).copy()
        lut[0] = 255  # transparent over white
        want = lut[arrays[0]]
        got = frames[0][scale // 2 :: scale, scale // 2 :: scale][:size, :size].astype(int)
        assert np.median(np.abs(got - want)) <= 8


# --- GIF size ------------------------------------------------------------------------------


def pillow_gif(frames, **options) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    return buffer.getvalue()


def shows(data, expected) -> bool:
    """Return True if GIF ``data`` decodes to exactly the ``expected`` RGBA frames."""
    with Image.open(io.BytesIO(data)) as image:
        for i, want in enumerate(expected):
            image.seek(i)
            if not same_rgba(np.array(image.convert("RGBA")), want):
                return False
    return True


@pytest.mark.parametrize("transparent", [None, 0])
@pytest.mark.parametrize("scale", [1, 4])
def test_gif_is_no_larger_than_pillows(tmp_path, transparent, scale):
    arrays = sprite_indices(count=8, size=24, seed=4)
    if transparent is not None:
        for a in arrays:  # a transparent frame that stays: Pillow's plain file shows it right
            a[:3], a[:, :3] = transparent, transparent
    images = p_images(arrays, transparent=transparent)
    ours = write_animation(images, tmp_path / "a.gif", EncodeConfig(scale=scale)).read_bytes()
    big = p_images([np.repeat(np.repeat(a, scale, 0), scale, 1) for a in arrays], transparent=transparent)
    expected = expected_rgba(arrays, transparent, scale)
    assert shows(ours, expected)
    plain = pillow_gif(big)
    assert shows(plain, expected)  # a fair comparison: Pillow's file is right too
    assert len(ours) <= len(plain)
