"""Colour space conversions: sRGB (uint8 or [0, 1]) <-> linear light <-> OKLab.

OKLab (Björn Ottosson, 2020) is perceptually uniform enough that Euclidean distance is a good
colour difference, so palette fitting, nearest-colour mapping and dithering all happen there.
Everything is vectorised over a trailing axis of 3 and works in float32.
"""

from __future__ import annotations

import numpy as np

_LMS_FROM_LINEAR = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ],
    dtype=np.float64,
)
_OKLAB_FROM_LMS_ROOT = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ],
    dtype=np.float64,
)
_LMS_ROOT_FROM_OKLAB = np.linalg.inv(_OKLAB_FROM_LMS_ROOT)
_LINEAR_FROM_LMS = np.linalg.inv(_LMS_FROM_LINEAR)

# Lookup table: every uint8 sRGB code value -> linear light, exact and fast.
_SRGB8_TO_LINEAR = None


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Return linear-light values for sRGB values in [0, 1]."""
    srgb = np.asarray(srgb, dtype=np.float32)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Return sRGB values in [0, 1] for linear-light values (clipped to [0, 1])."""
    linear = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055).astype(np.float32)


def srgb8_linear_table() -> np.ndarray:
    """Return the 256-entry float32 table from sRGB code value to linear light."""
    global _SRGB8_TO_LINEAR
    if _SRGB8_TO_LINEAR is None:
        _SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
    return _SRGB8_TO_LINEAR


def srgb8_to_linear(rgb8: np.ndarray) -> np.ndarray:
    """Return float32 linear light for a uint8 sRGB array (via a 256-entry table)."""
    return srgb8_linear_table()[np.asarray(rgb8, dtype=np.uint8)]


def linear_to_srgb8(linear: np.ndarray) -> np.ndarray:
    """Return uint8 sRGB for linear-light values, rounded to nearest."""
    return np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8)


def _apply_matrix(values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Return ``values @ matrix.T`` over the last axis, written out element-wise.

    A 3x3 product is too small for BLAS: its threads cost more than the arithmetic and stall
    badly on a busy machine, so the nine multiply-adds are done directly.
    """
    x0, x1, x2 = values[..., 0], values[..., 1], values[..., 2]
    out = np.empty(values.shape, dtype=np.float32)
    for row in range(3):
        m0, m1, m2 = (np.float32(v) for v in matrix[row])
        out[..., row] = x0 * m0 + x1 * m1 + x2 * m2
    return out


def linear_to_oklab(linear: np.ndarray) -> np.ndarray:
    """Return OKLab (L in [0, 1], a and b roughly in [-0.4, 0.4]) for linear-light RGB."""
    lms = _apply_matrix(np.asarray(linear, dtype=np.float32), _LMS_FROM_LINEAR)
    return _apply_matrix(np.cbrt(lms), _OKLAB_FROM_LMS_ROOT)


def oklab_to_linear(lab: np.ndarray) -> np.ndarray:
    """Return linear-light RGB (not clipped) for OKLab values."""
    lms_root = _apply_matrix(np.asarray(lab, dtype=np.float32), _LMS_ROOT_FROM_OKLAB)
    return _apply_matrix(lms_root**3, _LINEAR_FROM_LMS)


def srgb8_to_oklab(rgb8: np.ndarray) -> np.ndarray:
    """Return OKLab for a uint8 sRGB array."""
    return linear_to_oklab(srgb8_to_linear(rgb8))


def oklab_to_srgb8(lab: np.ndarray) -> np.ndarray:
    """Return uint8 sRGB for OKLab values (out-of-gamut colours are clipped)."""
    return linear_to_srgb8(oklab_to_linear(lab))
