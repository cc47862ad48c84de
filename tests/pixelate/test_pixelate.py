"""Tests of the pixel-art engine: grid, palette, alpha, dithering, determinism."""

import numpy as np
import pytest
from PIL import Image

from pixelgif.pixelate import PixelArt, PixelateConfig, pixelate_frames, pixelate_image
from pixelgif.pixelate.color import oklab_to_srgb8, srgb8_to_oklab


def _pixel_art(width=24, height=16, colors=6, seed=1) -> tuple[np.ndarray, np.ndarray]:
    """Return (image HxWx3 uint8 made of blocky shapes, its palette Kx3)."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    index = rng.integers(0, colors, (height // 2, width // 2)).repeat(2, 0).repeat(2, 1)
    return palette[index], palette


def _rgb(art: PixelArt, frame: int = 0) -> np.ndarray:
    return np.asarray(art.images[frame].convert("RGB"))


def test_true_pixel_art_at_pixel_size_1_comes_back_unchanged():
    image, palette = _pixel_art()
    for config in (
        PixelateConfig(pixel_size=1, colors=len(palette), dither="none"),
        PixelateConfig(pixel_size=1, palette=palette, dither="none"),
        PixelateConfig(pixel_size=1, colors=len(palette), dither="floyd-steinberg"),
    ):
        art = pixelate_frames([image], config)
        assert np.array_equal(_rgb(art), image)
        assert sorted(map(tuple, art.palette)) == sorted(map(tuple, palette))


def test_colour_round_trip_through_oklab_is_exact_for_every_grey():
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    assert np.array_equal(oklab_to_srgb8(srgb8_to_oklab(grey)), grey)


def test_frames_share_one_palette_and_use_only_its_indices():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    frames[1][:, :, 0] = 255  # a colour shift that a per-frame fit would chase
    art = pixelate_frames(frames, PixelateConfig(grid=(10, 10), colors=8))
    assert len(art.images) == 3 and art.palette.shape == (8, 3) and art.transparent_index is None
    for image in art.images:
        assert image.mode == "P" and image.size == (10, 10)
        assert np.array_equal(np.array(image.getpalette()[: 8 * 3]).reshape(8, 3), art.palette)
        assert np.asarray(image).max() < 8


def test_transparent_pixels_stay_transparent_and_are_left_out_of_the_fit():
    image = np.zeros((32, 32, 4), dtype=np.uint8)
    image[..., :3] = (255, 0, 255)  # colour under transparent pixels must not reach the palette
    image[8:24, 8:24] = (20, 120, 40, 255)
    image[8:24, 16:24, :3] = (230, 200, 10)
    art = pixelate_frames([Image.fromarray(image, "RGBA")], PixelateConfig(pixel_size=4, colors=4, dither="none"))
    assert art.transparent_index == len(art.palette) - 1
    opaque_palette = {tuple(c) for c in art.palette[: art.transparent_index]}
    assert opaque_palette == {(20, 120, 40), (230, 200, 10)}
    indices = art.indices[0]
    expected_transparent = np.ones((8, 8), bool)
    expected_transparent[2:6, 2:6] = False
    assert np.array_equal(indices == art.transparent_index, expected_transparent)
    assert art.images[0].info["transparency"] == art.transparent_index
    assert art.images[0].convert("RGBA").getpixel((0, 0))[3] == 0


def test_alpha_threshold_decides_what_is_transparent():
    image = np.full((8, 8, 4), 200, dtype=np.uint8)
    image[:4, :, 3] = 100
    low = pixelate_frames([image], PixelateConfig(pixel_size=1, colors=2, alpha_threshold=50))
    high = pixelate_frames([image], PixelateConfig(pixel_size=1, colors=2, alpha_threshold=150))
    assert low.transparent_index is None
    assert (high.indices[0][:4] == high.transparent_index).all() and (
        high.indices[0][4:] != high.transparent_index
    ).all()


def test_grid_size_from_grid_and_from_pixel_size():
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    assert pixelate_image(image, PixelateConfig(grid=(16, 12))).size == (16, 12)
    assert pixelate_image(image, PixelateConfig(pixel_size=8)).size == (8, 6)
    assert pixelate_image(image, PixelateConfig(grid=(10, 7))).size == (10, 7)  # uneven cells


def test_mean_reducer_averages_in_linear_light():
    checker = np.indices((8, 8)).sum(0) % 2 * 255
    image = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    art = pixelate_frames([image], PixelateConfig(grid=(1, 1), colors=2, dither="none"))
    # Half black, half white is 50 % light: sRGB 188, not the gamma-space average 128.
    assert abs(int(_rgb(art)[0, 0, 0]) - 188) <= 1


def test_edge_reducer_keeps_a_thin_dark_outline_that_the_mean_loses():
    image = np.full((64, 64, 3), 235, dtype=np.uint8)
    image[:, 29] = 10  # a 1-pixel vertical line
    config = dict(grid=(8, 8), colors=2, dither="none")
    edge = _rgb(pixelate_frames([image], PixelateConfig(reducer="edge", **config)))
    mean = _rgb(pixelate_frames([image], PixelateConfig(reducer="mean", **config)))
    assert edge[:, 3].max() < 100 and edge[:, 0].min() > 200
    assert mean[:, 3].min() > 150


def test_dominant_reducer_uses_only_colours_present_in_the_cell():
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[:, :10] = (250, 0, 0)
    image[:, 10:] = (0, 0, 250)
    art = pixelate_frames([image], PixelateConfig(grid=(1, 1), colors=2, reducer="dominant"))
    assert tuple(_rgb(art)[0, 0]) == (250, 0, 0)


def test_bayer_4x4_on_flat_mid_grey_gives_the_half_pattern():
    # 50 % grey in perceptual lightness (OKLab L = 0.5) sits halfway between black and white.
    grey = int(np.argmin(np.abs(srgb8_to_oklab(np.repeat(np.arange(256)[:, None], 3, 1))[:, 0] - 0.5)))
    image = np.full((8, 8, 3), grey, dtype=np.uint8)
    art = pixelate_frames([image], PixelateConfig(pixel_size=1, palette="1-bit", dither="bayer4"))
    white = _rgb(art)[..., 0] == 255
    from pixelgif.pixelate.dither import bayer_matrix

    expected = np.tile(bayer_matrix(4) < 8, (2, 2))
    assert white.sum() == 32
    assert np.array_equal(white, expected) or np.array_equal(white, ~expected)


def test_bayer_strength_zero_is_plain_nearest_colour():
    image = np.full((8, 8, 3), 110, dtype=np.uint8)
    art = pixelate_frames([image], PixelateConfig(pixel_size=1, palette="1-bit", dither="bayer8", dither_strength=0))
    assert len(np.unique(art.indices)) == 1


def test_bayer_matrix_is_a_permutation():
    from pixelgif.pixelate.dither import bayer_matrix

    for size in (2, 4, 8):
        assert sorted(bayer_matrix(size).ravel()) == list(range(size * size))


@pytest.mark.parametrize("method", ["floyd-steinberg", "atkinson"])
def test_error_diffusion_preserves_mean_colour(method):
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(120, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
    art = pixelate_frames([image], PixelateConfig(pixel_size=1, palette="pico-8", dither=method))
    source, result = srgb8_to_oklab(image).mean((0, 1)), srgb8_to_oklab(_rgb(art)).mean((0, 1))
    tolerance = 0.01 if method == "floyd-steinberg" else 0.03  # Atkinson drops 1/4 of the error by design
    assert np.abs(source - result).max() < tolerance
    nearest = pixelate_frames([image], PixelateConfig(pixel_size=1, palette="pico-8", dither="none"))
    assert np.abs(source - srgb8_to_oklab(_rgb(nearest)).mean((0, 1))).max() > np.abs(source - result).max()


def test_results_are_deterministic():
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    for dither in ("none", "bayer4", "floyd-steinberg"):
        config = PixelateConfig(pixel_size=4, colors=12, dither=dither)
        first, second = pixelate_frames(frames, config), pixelate_frames(frames, config)
        assert np.array_equal(first.palette, second.palette) and np.array_equal(first.indices, second.indices)


def test_best_subset_of_a_user_palette():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[:4] = (255, 0, 77)  # PICO-8 red
    image[4:] = (41, 173, 255)  # PICO-8 blue
    art = pixelate_frames([image], PixelateConfig(pixel_size=1, palette="pico-8", colors=2))
    assert {tuple(c) for c in art.palette} == {(255, 0, 77), (41, 173, 255)}


def test_remove_orphans_and_outline():
    from pixelgif.pixelate.cleanup import add_outline, remove_orphans

    indices = np.zeros((1, 5, 5), dtype=np.int32)
    indices[0, 2, 2] = 1
    assert not remove_orphans(indices).any()
    frame = np.full((1, 5, 5), 9, dtype=np.int32)
    frame[0, 2, 2] = 1
    outlined = add_outline(frame, transparent_index=9, outline_index=0)[0]
    assert (outlined[[1, 3, 2, 2], [2, 2, 1, 3]] == 0).all() and outlined[0, 0] == 9 and outlined[2, 2] == 1


def test_float_arrays_and_uint8_arrays_agree():
    image, _ = _pixel_art()
    config = PixelateConfig(pixel_size=2, colors=4, dither="none")
    a = pixelate_frames([image], config)
    b = pixelate_frames([image.astype(np.float32) / 255.0], config)
    assert np.array_equal(a.indices, b.indices)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(colors=1), "colors"),
        (dict(colors=300), "colors"),
        (dict(grid=(0, 4)), "grid"),
        (dict(grid=(8, 8), pixel_size=2), "conflicting"),
        (dict(dither="blue-noise"), "dither"),
        (dict(palette="nope"), "pico-8"),
        (dict(palette="1-bit", colors=4), "palette"),
        (dict(reducer="dominant", dither="bayer4"), "conflicting"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PixelateConfig(**kwargs)


def test_grid_larger_than_image_is_an_error():
    with pytest.raises(ValueError, match="larger than the image"):
        pixelate_frames([np.zeros((8, 8, 3), np.uint8)], PixelateConfig(grid=(16, 16)))


@pytest.mark.parametrize("size, scale, blur", [((16, 12), 8, 1.0), ((20, 15), 5.5, 0.0), ((24, 18), 10.67, 1.0)])
def test_grid_detection_on_an_upscaled_image_recovers_the_original_size(size, scale, blur):
    from PIL import ImageFilter

    from pixelgif.pixelate.grid import detect_grid

    small, _ = _pixel_art(size[0] * 2, size[1] * 2, colors=6, seed=4)
    small = small[::2, ::2]
    big = Image.fromarray(small).resize((round(size[0] * scale), round(size[1] * scale)), Image.Resampling.NEAREST)
    if blur:
        big = big.filter(ImageFilter.GaussianBlur(blur))
    x_edges, y_edges = detect_grid(np.asarray(big)[None])
    assert (len(x_edges) - 1, len(y_edges) - 1) == size
    art = pixelate_frames([big], PixelateConfig(detect_grid=True, colors=6, reducer="median", dither="none"))
    assert art.images[0].size == size


def test_grid_detection_refuses_an_image_without_a_grid():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(rng.normal(0, 1, (128, 128, 3)), (5, 5, 0))
    image = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
    with pytest.raises(ValueError, match="no pixel grid"):
        pixelate_frames([image], PixelateConfig(detect_grid=True))


def test_config_is_plain_settings_for_asdict_and_replace():
    import dataclasses
    import json

    config = PixelateConfig(grid=[32, 24], palette="pico-8", colors=8, dither="fs")
    assert config.grid == (32, 24) and config.dither == "floyd-steinberg"
    json.dumps(dataclasses.asdict(config))  # settings files store it as JSON
    changed = dataclasses.replace(config, colors=4)
    assert changed.colors == 4 and len(changed.palette_rgb) == 16


def test_fully_transparent_frame_stays_transparent():
    art = pixelate_frames([np.zeros((16, 16, 4), dtype=np.uint8)], PixelateConfig(pixel_size=4))
    assert art.transparent_index is not None and (art.indices == art.transparent_index).all()


def test_auto_dither_is_ordered_for_animations_and_diffusion_for_one_image():
    config = PixelateConfig()
    assert config.dither_for(1) == "floyd-steinberg" and config.dither_for(5) == "bayer4"


def test_256_colours_with_transparency_still_fit_in_one_byte():
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    image[..., 3] = np.where(np.arange(64)[:, None] < 8, 0, 255)
    art = pixelate_frames([image], PixelateConfig(pixel_size=1, colors=256, dither="none"))
    assert len(art.palette) <= 256 and art.transparent_index == len(art.palette) - 1


def test_error_diffusion_does_not_burst_into_far_off_colours():
    # A warm white the palette lacks: unlimited error would pile up towards yellow-green and come
    # out as dark green dots (136 of 1024 pixels); the carried error is limited, so none appear.
    palette = np.array([(20, 90, 20), (150, 190, 240), (190, 215, 250), (255, 255, 255)], dtype=np.uint8)
    image = np.full((32, 32, 3), (235, 228, 190), dtype=np.uint8)
    art = pixelate_frames([image], PixelateConfig(pixel_size=1, palette=palette, dither="floyd-steinberg"))
    assert not (_rgb(art) == palette[0]).all(axis=-1).any()
    assert len(np.unique(art.indices)) >= 2  # still dithered


def test_a_batch_array_and_a_generator_are_frames_too():
    rng = np.random.default_rng(9)
    batch = rng.random((3, 16, 16, 3)).astype(np.float32)
    config = PixelateConfig(pixel_size=4, colors=4, dither="bayer4")
    from_batch = pixelate_frames(batch, config)
    from_generator = pixelate_frames((frame for frame in batch), config)
    assert len(from_batch.images) == 3 and np.array_equal(from_batch.indices, from_generator.indices)


def test_the_engine_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, pixelgif.pixelate, pixelgif.cli.pixelate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


@pytest.mark.parametrize("dither", ["none", "bayer4", "floyd-steinberg", "atkinson"])
@pytest.mark.parametrize("transparent", [False, True])
def test_small_jobs_give_the_same_art_without_numba(monkeypatch, dither, transparent):
    # Small jobs do not load numba (~0.5 s): the kernels run as plain Python or as numpy twins,
    # which must agree with the compiled ones to the last bit (uneven cells included).
    from pixelgif import numba_jit
    from pixelgif.pixelate import palette as palette_module
    from pixelgif.pixelate.grid import cell_edges, reduce_mean

    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:29, 0:37]
    frames = []
    for i in range(3):
        rgb = np.stack([x * 6 + i * 9, y * 8, (x + y) * 3], -1) + rng.normal(0, 30, (29, 37, 3))
        frame = np.clip(rgb, 0, 255).astype(np.uint8)
        if transparent:
            frame = np.dstack([frame, np.where(rng.random((29, 37)) < 0.2, 0, 255).astype(np.uint8)])
        frames.append(frame)
    config = PixelateConfig(grid=(9, 7), colors=12, dither=dither)
    stacked = np.stack(frames)
    opaque = stacked[..., 3] >= 128 if transparent else None
    results = {}
    for compiled in (True, False):
        monkeypatch.setattr(numba_jit, "FORCE_COMPILED", compiled)
        palette_module._FIT_MEMO.clear()  # so that k-means runs each way, not once from the memo
        art = pixelate_frames(frames, config)
        lab, coverage = reduce_mean(
            np.ascontiguousarray(stacked[..., :3]), opaque, cell_edges(37, 9), cell_edges(29, 7)
        )
        results[compiled] = (art.indices, art.palette, lab, coverage)
    for a, b in zip(results[True], results[False], strict=True):
        np.testing.assert_array_equal(a, b)
