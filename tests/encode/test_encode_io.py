"""Encode stage: WebP, APNG and MP4, format choice, atomic writes and bad input."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys

import pytest
from encode_helpers import durations_of, expected_rgba, p_images, read_rgba, same_rgba, sprite_indices
from PIL import Image

from pixelgif import encode
from pixelgif.encode import EncodeConfig, write_animation
from pixelgif.encode.video import find_ffmpeg
from pixelgif.errors import PixelgifError

# --- other formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "duration", "loop"),
    [("a.png", "PNG", 120, 2), ("a.apng", "PNG", 120, 2), ("a.webp", "WEBP", 100, 3)],
)
def test_lossless_animation_round_trip(tmp_path, name, fmt, duration, loop):
    """APNG and WebP keep every pixel, the frame durations and the loop count."""
    arrays = sprite_indices(count=5, transparent=0)
    path = write_animation(p_images(arrays, transparent=0), tmp_path / name, EncodeConfig(duration=duration, loop=loop))
    with Image.open(path) as im:
        assert im.format == fmt and im.n_frames == 5 and im.info["loop"] == loop
    for got, want in zip(read_rgba(path), expected_rgba(arrays, 0), strict=True):
        assert same_rgba(got, want)
    assert durations_of(path) == [duration] * 5


def test_format_overrides_suffix(tmp_path):
    path = write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.bin", EncodeConfig(format="GIF"))
    assert path.read_bytes().startswith(b"GIF89a")


def test_unknown_suffix_is_an_error(tmp_path):
    with pytest.raises(PixelgifError, match="suffix"):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.jpg")


def test_mp4_without_ffmpeg_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(PixelgifError, match="ffmpeg"):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def have_ffmpeg() -> bool:
    try:
        return bool(find_ffmpeg())
    except PixelgifError:
        return False


@pytest.mark.skipif(not have_ffmpeg(), reason="neither ffmpeg nor imageio-ffmpeg installed")
def test_mp4_is_written(tmp_path):
    config = EncodeConfig(scale=3, duration=[100, 200, 100, 300])
    path = write_animation(p_images(sprite_indices(count=4), transparent=0), tmp_path / "a.mp4", config)
    assert path.read_bytes()[4:8] == b"ftyp"
    probe = subprocess.run([find_ffmpeg(), "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    assert "48x48" in probe.stderr and re.search(r"frame=\s*7\b", probe.stderr)  # 700 ms at 10 fps


# --- atomic writes and bad input ------------------------------------------------------------


def test_failing_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(frameset, target, config):
        target.files[0].write_bytes(b"GIF89a partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(encode.FORMATS, "gif", dataclasses.replace(encode.FORMATS["gif"], write=broken))
    with pytest.raises(RuntimeError):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.gif")
    assert list(tmp_path.iterdir()) == []


def test_failing_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.gif"
    target.write_bytes(b"old")
    failing = dataclasses.replace(encode.FORMATS["gif"], write=lambda *a: (_ for _ in ()).throw(OSError("no space")))
    monkeypatch.setitem(encode.FORMATS, "gif", failing)
    with pytest.raises(OSError):
        write_animation(p_images(sprite_indices(count=2)), target)
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_unwritable_path_is_a_pixelgif_error(tmp_path):
    with pytest.raises(PixelgifError, match="does not exist"):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "missing" / "a.gif")


def test_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_animation([], tmp_path / "a.gif")
    a = p_images(sprite_indices(count=1))[0]
    with pytest.raises(ValueError, match="one size"):
        write_animation([a, a.resize((8, 8))], tmp_path / "a.gif")
    with pytest.raises(ValueError, match="out of range"):
        write_animation([a, a], tmp_path / "a.gif", keyframes=[5])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"duration": 0}, "duration"),
        ({"duration": 5}, "at least 10"),
        ({"duration": []}, "empty"),
        ({"duration": [100, "x"]}, "duration"),
        ({"duration": 1.5}, "duration"),
        ({"hold": -1}, "hold"),
        ({"loop": -1}, "loop"),
        ({"scale": 0}, "scale"),
        ({"scale": 2.0}, "scale"),
        ({"boomerang": "yes"}, "boomerang"),
        ({"format": "jpeg"}, "gif, webp, apng, mp4"),
    ],
)
def test_bad_config_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EncodeConfig(**kwargs)


def test_config_normalises_values():
    config = EncodeConfig(duration=[100, 200], format=".PNG")
    assert config.duration == (100, 200) and config.format == "apng"
    assert EncodeConfig().resolve_format("x.WEBP") == "webp"


def test_auto_scale():
    assert encode.auto_scale(64, 512) == 8  # back to the render size
    assert encode.auto_scale(16) == 16  # small art: at least 256 px wide
    assert encode.auto_scale(2) == 64  # capped
    assert encode.auto_scale(1000, 500) == 1


def test_a_folder_that_refuses_files_is_caught_before_any_work(tmp_path, monkeypatch):
    """Permissions can say yes while the file system says no (read-only mounts, /proc): the check tries it."""
    import tempfile

    from pixelgif.errors import PixelgifError
    from pixelgif.outputs import check_writable

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(PixelgifError, match=r"cannot write .*out\.gif.*Read-only file system"):
        check_writable(tmp_path / "out.gif")
    monkeypatch.undo()
    assert check_writable(tmp_path / "out.gif") == tmp_path / "out.gif" and list(tmp_path.iterdir()) == []
