"""Tests of palette.py's nearest-colour search and palette fitting: the fast forms give exactly the
answers of the plain ones (ties included), compiled or not, and the fit memo changes no answer."""

import numpy as np
import pytest

from pixelgif import numba_jit
from pixelgif.pixelate import palette as palette_module
from pixelgif.pixelate.color import srgb8_to_oklab
from pixelgif.pixelate.dither import two_nearest
from pixelgif.pixelate.palette import fit_palette, kmeans, nearest_indices, squared_distances


def _broadcast_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The plain NxKx3 form the fast one replaces."""
    return ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


def _points_and_palette(seed: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Return OKLab colours of random sRGB pixels and a palette with repeated entries and entries
    that are pixels' own colours (exact ties and zero distances)."""
    rng = np.random.default_rng(seed)
    points = srgb8_to_oklab(rng.integers(0, 256, (3000, 3)).astype(np.uint8)).astype(dtype)
    palette = np.concatenate([points[rng.integers(0, len(points), 9)], rng.normal(0, 0.2, (4, 3)).astype(dtype)])
    return points, np.concatenate([palette, palette[:3], palette[5:6]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_distances_are_the_broadcast_ones_bit_for_bit(dtype):
    points, palette = _points_and_palette(1, dtype)
    fast = squared_distances(points, palette)
    assert fast.dtype == dtype
    np.testing.assert_array_equal(fast, _broadcast_distances(points, palette))
    # mixed precision promotes as numpy's broadcasting does
    np.testing.assert_array_equal(
        squared_distances(points.astype(np.float32), palette.astype(np.float64)),
        _broadcast_distances(points.astype(np.float32), palette.astype(np.float64)),
    )


@pytest.mark.parametrize("compiled", [True, False])
def test_nearest_indices_take_the_first_of_tied_colours_compiled_or_not(monkeypatch, compiled):
    monkeypatch.setattr(numba_jit, "FORCE_COMPILED", compiled)
    points, palette = _points_and_palette(2, np.float64)
    expected = np.argmin(_broadcast_distances(points, palette), axis=1)
    found = nearest_indices(points.reshape(30, 100, 3), palette)
    assert found.shape == (30, 100)
    np.testing.assert_array_equal(found.reshape(-1), expected)
    assert (found < 13).all()  # a repeated entry never wins over its first copy


@pytest.mark.parametrize("compiled", [True, False])
def test_two_nearest_are_a_stable_sorts_first_two_compiled_or_not(monkeypatch, compiled):
    monkeypatch.setattr(numba_jit, "FORCE_COMPILED", compiled)
    points, palette = _points_and_palette(3, np.float64)
    points = np.concatenate([points, palette])  # points on palette entries: the second is their copy
    order = np.argsort(_broadcast_distances(points, palette), axis=1, kind="stable")
    first, second = two_nearest(points, palette)
    np.testing.assert_array_equal(first, order[:, 0])
    np.testing.assert_array_equal(second, order[:, 1])
    assert first.dtype == second.dtype == np.int32


def test_kmeans_matches_the_broadcast_form(monkeypatch):
    # The whole Lloyd loop run again on the plain NxKx3 distances: the same centres, to the bit.
    rng = np.random.default_rng(4)
    colours = rng.integers(0, 256, (4000, 3)).astype(np.uint8)
    colours[:1000] = colours[0]  # a heavy colour, as sprites have
    points, counts = np.unique(srgb8_to_oklab(colours).astype(np.float32), axis=0, return_counts=True)
    fast = kmeans(points, counts, 16, seed=0)
    monkeypatch.setattr(numba_jit, "FORCE_COMPILED", False)
    monkeypatch.setattr(palette_module, "squared_distances", _broadcast_distances)
    np.testing.assert_array_equal(fast, kmeans(points, counts, 16, seed=0))


def test_the_fit_memo_gives_what_fitting_gives():
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (5000, 3)).astype(np.uint8)
    fixed = pixels[:3]
    palette_module._FIT_MEMO.clear()
    first = fit_palette(pixels, 12, seed=2)
    assert len(palette_module._FIT_MEMO) == 1
    first[:] = 0  # the caller's copy: the memo keeps its own
    again = fit_palette(pixels, 12, seed=2)
    np.testing.assert_array_equal(again, palette_module._fit_palette(pixels, 12, 2, 16384, None))
    assert again.any()
    # every argument is part of the key: a call that differs in one is fitted, not remembered
    for rgb8, k, seed, max_samples, fixed_colours in (
        (pixels, 11, 2, 16384, None),
        (pixels, 12, 3, 16384, None),
        (pixels, 12, 2, 1000, None),
        (pixels, 12, 2, 16384, fixed),
        (np.concatenate([pixels, pixels[:2500]]), 12, 2, 16384, None),  # weights change, not colours
    ):
        fitted = palette_module._fit_palette(rgb8, k, seed, max_samples, fixed_colours)
        assert not np.array_equal(fitted, again)
        np.testing.assert_array_equal(fit_palette(rgb8, k, seed, max_samples, fixed_colours), fitted)
    for _ in range(palette_module._FIT_MEMO_SIZE + 3):
        fit_palette(rng.integers(0, 256, (50, 3)).astype(np.uint8), 4)
    assert len(palette_module._FIT_MEMO) == palette_module._FIT_MEMO_SIZE
