"""Encode stage: lossless round trips, timing, scale, formats, atomic writes, bad config."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from pixelgif import encode
from pixelgif.encode import EncodeConfig, write_animation
from pixelgif.errors import PixelgifError
from pixelgif.gifwriter import centiseconds, encode_gif

PALETTE = np.array(
    [[0, 0, 0], [255, 0, 77], [41, 173, 255], [0, 228, 54], [255, 236, 39], [131, 118, 156], [255, 241, 232]],
    dtype=np.uint8,
)


def sprite_indices(count=6, size=16, transparent=None, seed=0):
    """Return index arrays of a little animation: a moving block over a noisy background."""
    rng = np.random.RandomState(seed)
    base = rng.randint(1, len(PALETTE), (size, size)).astype(np.uint8)
    frames = []
    for i in range(count):
        a = base.copy()
        a[i % size : i % size + 4, 2:7] = 1 + i % (len(PALETTE) - 1)
        if transparent is not None:
            a[:, (3 * i) % size] = transparent  # a transparent column that moves
            a[(5 * i) % size, :] = transparent
        frames.append(a)
    return frames


def p_images(arrays, palette=PALETTE, transparent=None):
    images = []
    for a in arrays:
        image = Image.frombytes("P", (a.shape[1], a.shape[0]), a.tobytes())
        image.putpalette(palette.tobytes())
        if transparent is not None:
            image.info["transparency"] = transparent
        images.append(image)
    return images


def read_indices(path):
    """Return (index arrays, palette bytes, info per frame) of a GIF read in palette mode."""
    old = GifImagePlugin.LOADING_STRATEGY
    GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY
    try:
        with Image.open(path) as im:
            arrays, infos = [], []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                im.load()
                assert im.mode == "P"
                arrays.append(np.array(im))
                infos.append(dict(im.info))
            return arrays, bytes(im.getpalette()), infos
    finally:
        GifImagePlugin.LOADING_STRATEGY = old


def read_rgba(path):
    with Image.open(path) as im:
        out = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(np.array(im.convert("RGBA")))
        return out


def durations_of(path):
    with Image.open(path) as im:
        out = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            im.load()
            out.append(im.info.get("duration"))
        return out


def expected_rgba(arrays, transparent=None, scale=1):
    lut = np.concatenate([PALETTE, np.full((len(PALETTE), 1), 255, np.uint8)], 1)
    if transparent is not None:
        lut[transparent] = 0
    return [np.repeat(np.repeat(lut[a], scale, 0), scale, 1) for a in arrays]


def same_rgba(a, b):
    """Compare RGBA, ignoring the colour of fully transparent pixels."""
    a, b = a.copy(), b.copy()
    a[a[..., 3] == 0] = 0
    b[b[..., 3] == 0] = 0
    return np.array_equal(a, b)


# --- lossless GIF ---------------------------------------------------------------------------


@pytest.mark.parametrize("transparent", [None, 0, 3])
def test_gif_round_trip_is_index_exact(tmp_path, transparent):
    arrays = sprite_indices(transparent=transparent)
    path = write_animation(p_images(arrays, transparent=transparent), tmp_path / "a.gif")
    read, palette, infos = read_indices(path)
    assert len(read) == len(arrays)
    for got, want in zip(read, arrays):
        np.testing.assert_array_equal(got, want)
    assert palette[: PALETTE.size] == PALETTE.tobytes()
    assert infos[0].get("transparency") == transparent


@pytest.mark.parametrize("transparent", [None, 2])
def test_gif_colours_match_in_default_rgb_reading(tmp_path, transparent):
    arrays = sprite_indices(count=8, transparent=transparent, seed=3)
    path = write_animation(p_images(arrays, transparent=transparent), tmp_path / "a.gif")
    for got, want in zip(read_rgba(path), expected_rgba(arrays, transparent)):
        assert same_rgba(got, want)


def test_gif_is_byte_exact_and_deterministic(tmp_path):
    images = p_images(sprite_indices())
    a = write_animation(images, tmp_path / "a.gif").read_bytes()
    b = write_animation(images, tmp_path / "b.gif").read_bytes()
    assert a == b
    assert a == encode_gif(sprite_indices(), PALETTE, [100] * 6)


def test_gif_uses_one_global_palette(tmp_path):
    path = write_animation(p_images(sprite_indices(count=10)), tmp_path / "a.gif")
    data = path.read_bytes()
    # Image descriptors (0x2C after a block end) must never set the local colour table flag.
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            assert im.palette is not None
    assert data.count(PALETTE.tobytes()) == 1


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle not installed")
def test_gif_decodes_the_same_in_gifsicle(tmp_path):
    # A second, independent decoder: gifsicle unoptimizes every frame to a full image.
    arrays = sprite_indices(count=7, transparent=4, seed=5)
    path = write_animation(p_images(arrays, transparent=4), tmp_path / "a.gif")
    subprocess.run(["gifsicle", "-U", "--explode", str(path), "-o", str(tmp_path / "f")], check=True)
    for i, want in enumerate(expected_rgba(arrays, 4)):
        got = np.array(Image.open(tmp_path / f"f.{i:03d}").convert("RGBA"))
        assert same_rgba(got, want)


def test_rgb_frames_with_few_colours_are_exact(tmp_path):
    arrays = sprite_indices(count=5)
    rgb = [Image.fromarray(PALETTE[a]) for a in arrays]
    path = write_animation(rgb, tmp_path / "a.gif")
    for got, want in zip(read_rgba(path), expected_rgba(arrays)):
        assert same_rgba(got, want)


def test_rgba_frames_keep_transparency(tmp_path):
    arrays = sprite_indices(count=4, transparent=0)
    rgba = [Image.fromarray(x) for x in expected_rgba(arrays, transparent=0)]
    path = write_animation(rgba, tmp_path / "a.gif")
    for got, want in zip(read_rgba(path), expected_rgba(arrays, 0)):
        assert same_rgba(got, want)


def test_rgb_frames_with_many_colours_share_one_palette(tmp_path):
    rng = np.random.RandomState(0)
    frames = [Image.fromarray(rng.randint(0, 256, (24, 24, 3)).astype(np.uint8)) for _ in range(3)]
    path = write_animation(frames, tmp_path / "a.gif")
    with Image.open(path) as im:
        assert im.n_frames == 3
        assert len(im.getpalette()) == 256 * 3


def test_single_frame_is_a_still_image(tmp_path):
    images = p_images(sprite_indices(count=1))
    for name in ("a.gif", "a.png", "a.webp"):
        with Image.open(write_animation(images, tmp_path / name)) as im:
            assert getattr(im, "n_frames", 1) == 1
            assert not getattr(im, "is_animated", False)


# --- timing ---------------------------------------------------------------------------------


def test_boomerang_frame_count_and_order(tmp_path):
    arrays = sprite_indices(count=5)
    path = write_animation(p_images(arrays), tmp_path / "a.gif", EncodeConfig(boomerang=True))
    read, _, _ = read_indices(path)
    assert len(read) == 8  # 0 1 2 3 4 3 2 1: the ends are not repeated
    for got, i in zip(read, [0, 1, 2, 3, 4, 3, 2, 1]):
        np.testing.assert_array_equal(got, arrays[i])


@pytest.mark.parametrize("count,expected", [(1, 1), (2, 2), (3, 4)])
def test_boomerang_small_counts(tmp_path, count, expected):
    path = write_animation(p_images(sprite_indices(count=count)), tmp_path / "a.gif", EncodeConfig(boomerang=True))
    assert len(read_indices(path)[0]) == expected


def test_durations_with_hold_on_keyframes(tmp_path):
    config = EncodeConfig(duration=80, hold=420)
    path = write_animation(p_images(sprite_indices(count=5)), tmp_path / "a.gif", config, keyframes=[0, 4])
    assert durations_of(path) == [500, 80, 80, 80, 500]


def test_hold_applies_to_keyframes_in_both_directions(tmp_path):
    config = EncodeConfig(duration=100, hold=200, boomerang=True)
    path = write_animation(p_images(sprite_indices(count=4)), tmp_path / "a.gif", config, keyframes=[0, 2])
    assert durations_of(path) == [300, 100, 300, 100, 300, 100]


def test_per_frame_durations(tmp_path):
    config = EncodeConfig(duration=[50, 60, 70, 80])
    path = write_animation(p_images(sprite_indices(count=4)), tmp_path / "a.gif", config)
    assert durations_of(path) == [50, 60, 70, 80]
    with pytest.raises(ValueError, match="4 values but there are 3 frames"):
        write_animation(p_images(sprite_indices(count=3)), tmp_path / "b.gif", config)


def test_identical_frames_are_merged_adding_durations(tmp_path):
    a, b = sprite_indices(count=2)
    path = write_animation(p_images([a, a, a, b, b]), tmp_path / "a.gif", EncodeConfig(duration=100))
    read, _, _ = read_indices(path)
    assert len(read) == 2
    assert durations_of(path) == [300, 200]
    unmerged = write_animation(p_images([a, a, b]), tmp_path / "b.gif", EncodeConfig(optimize=False))
    assert len(read_indices(unmerged)[0]) == 3


def test_centiseconds_do_not_drift():
    delays = centiseconds([33] * 30)
    assert sum(delays) == 99  # 990 ms, not 30 * 3 = 900
    assert centiseconds([100, 250]) == [10, 25]


@pytest.mark.parametrize("loop,stored", [(0, 0), (3, 2)])
def test_loop_count_in_gif(tmp_path, loop, stored):
    # GIF stores repeats after the first play; `loop` counts plays.
    path = write_animation(p_images(sprite_indices(count=3)), tmp_path / "a.gif", EncodeConfig(loop=loop))
    with Image.open(path) as im:
        assert im.info.get("loop") == stored


def test_play_once_gif_has_no_loop_block(tmp_path):
    path = write_animation(p_images(sprite_indices(count=3)), tmp_path / "a.gif", EncodeConfig(loop=1))
    with Image.open(path) as im:
        assert "loop" not in im.info
    assert b"NETSCAPE2.0" not in path.read_bytes()


# --- scale ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.gif", "a.png", "a.webp"])
def test_scale_is_nearest_neighbour(tmp_path, name):
    arrays = sprite_indices(count=3)
    path = write_animation(p_images(arrays), tmp_path / name, EncodeConfig(scale=3))
    frames = read_rgba(path)
    assert frames[0].shape[:2] == (48, 48)
    for got, want in zip(frames, expected_rgba(arrays, scale=3)):
        assert same_rgba(got, want)


# --- other formats --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.png", "a.apng"])
def test_apng_round_trip(tmp_path, name):
    arrays = sprite_indices(count=5, transparent=0)
    config = EncodeConfig(duration=120, loop=2)
    path = write_animation(p_images(arrays, transparent=0), tmp_path / name, config)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.n_frames == 5 and im.info["loop"] == 2
    for got, want in zip(read_rgba(path), expected_rgba(arrays, 0)):
        assert same_rgba(got, want)
    assert durations_of(path) == [120] * 5


def test_webp_round_trip_is_lossless(tmp_path):
    arrays = sprite_indices(count=5, transparent=0)
    path = write_animation(p_images(arrays, transparent=0), tmp_path / "a.webp", EncodeConfig(loop=3))
    with Image.open(path) as im:
        assert im.format == "WEBP" and im.n_frames == 5 and im.info["loop"] == 3
    for got, want in zip(read_rgba(path), expected_rgba(arrays, 0)):
        assert same_rgba(got, want)
    assert durations_of(path) == [100] * 5


def test_format_overrides_suffix(tmp_path):
    path = write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.bin", EncodeConfig(format="GIF"))
    assert path.read_bytes().startswith(b"GIF89a")


def test_unknown_suffix_is_an_error(tmp_path):
    with pytest.raises(PixelgifError, match="suffix"):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.jpg")


def test_mp4_without_ffmpeg_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(encode.shutil, "which", lambda name: None)
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    with pytest.raises(PixelgifError, match="ffmpeg"):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_mp4_is_written(tmp_path):
    path = write_animation(p_images(sprite_indices(count=4)), tmp_path / "a.mp4", EncodeConfig(scale=2))
    assert path.stat().st_size > 0 and path.read_bytes()[4:8] == b"ftyp"


def opaque_then_transparent():
    """Return frames whose first frame has no transparent pixel but later ones do (index 0)."""
    arrays = sprite_indices(count=5, seed=7)
    for i, a in enumerate(arrays[1:], 1):
        a[: 2 * i, :] = 0
    return arrays


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle not installed")
@pytest.mark.parametrize("case", ["opaque", "transparent", "opaque_first"])
def test_gifsicle_keeps_the_pixels(tmp_path, case):
    transparent = None if case == "opaque" else 0
    arrays = opaque_then_transparent() if case == "opaque_first" else sprite_indices(count=6, transparent=transparent)
    images = p_images(arrays, transparent=transparent)
    path = write_animation(images, tmp_path / "a.gif", EncodeConfig(gifsicle=True, scale=2))
    for got, want in zip(read_rgba(path), expected_rgba(arrays, transparent, scale=2)):
        assert same_rgba(got, want)
    assert durations_of(path) == [100] * len(arrays)


def test_gifsicle_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(encode.shutil, "which", lambda name: None)
    with pytest.raises(PixelgifError, match="gifsicle"):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.gif", EncodeConfig(gifsicle=True))
    assert list(tmp_path.iterdir()) == []


def test_opaque_first_frame_then_transparent(tmp_path):
    arrays = opaque_then_transparent()
    path = write_animation(p_images(arrays, transparent=0), tmp_path / "a.gif")
    for got, want in zip(read_indices(path)[0], arrays):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(read_rgba(path), expected_rgba(arrays, 0)):
        assert same_rgba(got, want)


@pytest.mark.parametrize("seed", range(40))
def test_random_animations_round_trip(seed):
    # Random palettes, sizes, transparency and changes: every frame must come back exactly.
    rng = np.random.RandomState(seed)
    colours = int(rng.choice([2, 3, 5, 16, 40, 256]))
    transparent = None if rng.rand() < 0.4 else int(rng.randint(colours))
    height, width, count = rng.randint(1, 24), rng.randint(1, 24), rng.randint(1, 6)
    palette = rng.randint(0, 256, (colours, 3)).astype(np.uint8)
    frames, frame = [], rng.randint(0, colours, (height, width)).astype(np.uint8)
    for _ in range(count):
        frame = frame.copy()
        changed = rng.rand(height, width) < rng.rand() * 0.5
        frame[changed] = rng.randint(0, colours, changed.sum())
        frames.append(frame)
    loop = int(rng.choice([0, 1, 3]))
    data = encode_gif(frames, palette, [100] * count, loop, transparent, optimize=rng.rand() < 0.8)
    old = GifImagePlugin.LOADING_STRATEGY
    GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY
    try:
        with Image.open(io.BytesIO(data)) as im:
            assert getattr(im, "n_frames", 1) == count
            for i, want in enumerate(frames):
                im.seek(i)
                np.testing.assert_array_equal(np.array(im), want)
    finally:
        GifImagePlugin.LOADING_STRATEGY = old


# --- atomic writes and bad input ------------------------------------------------------------


def test_failing_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(data_frames, tmp, config):
        tmp.write_bytes(b"GIF89a partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(encode._WRITERS, "gif", broken)
    with pytest.raises(RuntimeError):
        write_animation(p_images(sprite_indices(count=2)), tmp_path / "a.gif")
    assert list(tmp_path.iterdir()) == []


def test_failing_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.gif"
    target.write_bytes(b"old")
    monkeypatch.setitem(encode._WRITERS, "gif", lambda *a: (_ for _ in ()).throw(OSError("no space")))
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
