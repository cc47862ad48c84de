"""Shared helpers of the encode tests: a little palette animation and ways to read files back."""

from __future__ import annotations

import numpy as np
from PIL import GifImagePlugin, Image

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
