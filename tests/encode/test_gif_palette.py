"""GIF palette compaction: only the colours drawn, reordered, transparency in a free slot; RGBA exact."""

from __future__ import annotations

import io

import numpy as np
import pytest
from encode_helpers import PALETTE, expected_rgba, p_images, read_indices, read_rgba, same_rgba, sprite_indices
from PIL import Image

from pixelgif.encode import EncodeConfig, write_animation
from pixelgif.encode.gif.palette import compact_palette
from pixelgif.encode.gif.writer import encode_gif


def table_size(data: bytes) -> int:
    """Return the number of global colour table entries of a GIF file."""
    assert data[10] & 0x80
    return 2 << (data[10] & 7)


def global_palette(data: bytes) -> np.ndarray:
    return np.frombuffer(data[13 : 13 + 3 * table_size(data)], np.uint8).reshape(-1, 3)


def decoded_rgba(data: bytes) -> list[np.ndarray]:
    """Return every frame as RGBA with the colour under fully transparent pixels zeroed."""
    frames = []
    with Image.open(io.BytesIO(data)) as image:
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            rgba = np.array(image.convert("RGBA"))
            rgba[rgba[..., 3] == 0] = 0
            frames.append(rgba)
    return frames


def wanted_rgba(frames, palette, transparent) -> list[np.ndarray]:
    lut = np.concatenate([palette, np.full((len(palette), 1), 255, np.uint8)], 1)
    if transparent is not None:
        lut[transparent] = 0
    return [lut[f] for f in frames]


def frames_of(palette_size, count=5, size=12, used=None, transparent=None, seed=0):
    """Return random frames that draw only ``used`` indices (default: all), with moving transparency."""
    rng = np.random.RandomState(seed)
    used = np.arange(palette_size) if used is None else np.asarray(used)
    frame = used[rng.randint(0, len(used), (size, size))].astype(np.uint8)
    frames = []
    for i in range(count):
        frame = frame.copy()
        changed = rng.rand(size, size) < 0.3
        frame[changed] = used[rng.randint(0, len(used), changed.sum())]
        if transparent is not None:
            frame[:, (2 * i) % size] = transparent
        frames.append(frame)
    return frames


def test_unused_colours_are_dropped_and_pixels_stay_exact():
    palette = np.random.RandomState(1).randint(0, 256, (256, 3)).astype(np.uint8)
    frames = frames_of(256, used=[3, 200, 77])
    exact = encode_gif(frames, palette, [100] * 5)
    compact = encode_gif(frames, palette, [100] * 5, compact=True)
    assert table_size(exact) == 256 and table_size(compact) == 4
    assert len(compact) < len(exact)
    assert all(map(np.array_equal, decoded_rgba(compact), wanted_rgba(frames, palette, None)))
    kept = {tuple(c) for c in global_palette(compact)[:3]}
    assert kept == {tuple(palette[i]) for i in (3, 200, 77)}


def test_sixteen_colours_and_transparency_fit_a_sixteen_entry_table():
    # 16 colours + a transparent index need 17 entries (5-bit codes) when kept exact; compacted,
    # each frame shows transparency through a colour it does not draw, so 16 entries do.
    palette = np.random.RandomState(2).randint(0, 256, (17, 3)).astype(np.uint8)
    frames = frames_of(17, used=range(15))
    for frame in frames:
        frame[:, 0] = 16  # a see-through column; frame 0 leaves index 15 undrawn
    frames[2][1, 1:] = 15  # a later frame draws all 16 colours (its rectangle has no see-through pixel)
    exact = encode_gif(frames, palette, [100] * 5, transparent=16)
    compact = encode_gif(frames, palette, [100] * 5, transparent=16, compact=True)
    assert table_size(exact) == 32 and table_size(compact) == 16
    assert len(compact) < len(exact)
    assert all(map(np.array_equal, decoded_rgba(compact), wanted_rgba(frames, palette, 16)))
    assert {tuple(c) for c in global_palette(compact)} <= {tuple(c) for c in palette}


def test_transparency_is_the_index_past_the_table_when_a_frame_draws_every_colour():
    # As gifsicle does: the table keeps its 4 entries, that frame's codes get one bit wider.
    palette = np.random.RandomState(3).randint(0, 256, (5, 3)).astype(np.uint8)
    frames = frames_of(5, used=range(4), transparent=4)
    frames[0][:2, :4] = [[0, 1, 2, 3], [0, 1, 2, 3]]  # the first frame draws all four colours
    compact = encode_gif(frames, palette, [100] * 5, transparent=4, compact=True)
    assert table_size(compact) == 4
    assert len(compact) < len(encode_gif(frames, palette, [100] * 5, transparent=4))
    assert all(map(np.array_equal, decoded_rgba(compact), wanted_rgba(frames, palette, 4)))


def test_duplicate_colours_merge_but_transparency_stays_apart():
    palette = np.array([[9, 9, 9], [200, 0, 0], [9, 9, 9], [200, 0, 0]], np.uint8)
    frames = frames_of(4, transparent=2)  # index 2 has the RGB of index 0 but is see-through
    result = compact_palette(frames, palette, 2)
    assert len(result.palette) == 3 and result.transparent == 2
    for got, want in zip(result.frames, frames, strict=False):
        np.testing.assert_array_equal(result.palette[got], palette[want])
        np.testing.assert_array_equal(got == result.transparent, want == 2)


def test_compaction_prefers_an_order_that_shortens_codes():
    # Late frames redraw only the last four colours: numbered first, those frames need 3-bit codes.
    palette = np.random.RandomState(4).randint(0, 256, (16, 3)).astype(np.uint8)
    frames = frames_of(16, count=2, size=32) + frames_of(16, count=8, size=32, used=range(12, 16), seed=5)
    result = compact_palette(frames, palette, None)
    assert sorted(map(tuple, result.palette)) == sorted(map(tuple, palette))
    assert set(np.unique(result.frames[5]).tolist()) <= {0, 1, 2, 3}
    data = encode_gif(frames, palette, [100] * 10, compact=True)
    assert len(data) < len(encode_gif(frames, palette, [100] * 10))
    assert all(map(np.array_equal, decoded_rgba(data), wanted_rgba(frames, palette, None)))


@pytest.mark.parametrize("seed", range(30))
def test_random_compacted_animations_are_rgba_exact(seed):
    rng = np.random.RandomState(seed)
    colours = int(rng.choice([2, 3, 5, 16, 17, 40, 256]))
    palette = rng.randint(0, 4, (colours, 3)).astype(np.uint8) * 85  # few RGBs: duplicate entries happen
    transparent = None if rng.rand() < 0.3 else int(rng.randint(colours))
    used = rng.choice(colours, int(rng.randint(1, colours + 1)), replace=False)
    count, size = int(rng.randint(1, 6)), int(rng.randint(1, 20))
    frames = frames_of(colours, count, size, used, seed=seed)
    loop = int(rng.choice([0, 1, 3]))
    data = encode_gif(frames, palette, [100] * count, loop, transparent, optimize=rng.rand() < 0.8, compact=True)
    assert all(map(np.array_equal, decoded_rgba(data), wanted_rgba(frames, palette, transparent)))
    compacted = compact_palette(frames, palette, transparent).palette
    assert {tuple(c) for c in compacted} <= {tuple(c) for c in palette}
    shown = min(len(compacted), table_size(data))  # the transparent entry may be left out of the table
    np.testing.assert_array_equal(global_palette(data)[:shown], compacted[:shown])


def test_default_gif_is_rgba_exact_and_keep_palette_order_is_index_exact(tmp_path):
    arrays = sprite_indices(count=6, transparent=0, seed=4)
    palette = np.concatenate([PALETTE, np.full((9, 3), 50, np.uint8)])  # 16 entries, 7 drawn
    images = p_images(arrays, palette=palette, transparent=0)
    default = write_animation(images, tmp_path / "a.gif")
    exact = write_animation(images, tmp_path / "b.gif", EncodeConfig(keep_palette_order=True))
    for path in (default, exact):
        for got, want in zip(read_rgba(path), expected_rgba(arrays, 0), strict=False):
            assert same_rgba(got, want)
    assert table_size(default.read_bytes()) == 8 and table_size(exact.read_bytes()) == 16
    assert default.stat().st_size < exact.stat().st_size
    indices, exact_palette, infos = read_indices(exact)
    assert all(map(np.array_equal, indices, arrays))
    assert exact_palette[: palette.size] == palette.tobytes() and infos[0]["transparency"] == 0


def test_keep_palette_order_must_be_a_bool():
    with pytest.raises(ValueError, match="keep_palette_order must be true or false"):
        EncodeConfig(keep_palette_order="yes")
