"""Compiled inner loops (numba, compiled on first use and cached on disk): cell sums, nearest colours, error diffusion.

Each kernel fills output arrays passed in by the caller. Small jobs, and runs without numba, use
the same functions as plain Python (``.py_func``: same results, no numba to load) or numpy paths
that give the same results (``compile_for``).
"""

from __future__ import annotations

from ..numba_jit import lazy_njit


@lazy_njit
def box_sums(rgb, opaque, use_mask, x_cell, y_cell, lut, sums, mass):  # pragma: no cover - compiled
    """Add each pixel's linear-light colour (via ``lut``) into its cell of ``sums``; count into ``mass``."""
    n, h, w = rgb.shape[0], rgb.shape[1], rgb.shape[2]
    for f in range(n):
        for y in range(h):
            cy = y_cell[y]
            for x in range(w):
                if use_mask and not opaque[f, y, x]:
                    continue
                cx = x_cell[x]
                sums[f, cy, cx, 0] += lut[rgb[f, y, x, 0]]
                sums[f, cy, cx, 1] += lut[rgb[f, y, x, 1]]
                sums[f, cy, cx, 2] += lut[rgb[f, y, x, 2]]
                mass[f, cy, cx] += 1.0


@lazy_njit
def nearest_two(points, palette, first, second):  # pragma: no cover - compiled
    """Fill ``first`` and ``second`` with the nearest and second-nearest palette index of each point."""
    k = palette.shape[0]
    for i in range(points.shape[0]):
        p0, p1, p2 = points[i, 0], points[i, 1], points[i, 2]
        best, best_d, runner, runner_d = 0, 1e30, 0, 1e30
        for j in range(k):
            d = (p0 - palette[j, 0]) ** 2 + (p1 - palette[j, 1]) ** 2 + (p2 - palette[j, 2]) ** 2
            if d < best_d:
                runner, runner_d = best, best_d
                best, best_d = j, d
            elif d < runner_d:
                runner, runner_d = j, d
        first[i] = best
        second[i] = runner if k > 1 else best


@lazy_njit
def diffuse_frame(source, lab, solid, palette, kernel, max_carry, out):  # pragma: no cover - compiled
    """Quantise one (h, w, 3) frame into ``out`` with serpentine error diffusion.

    ``lab`` starts as a copy of ``source`` and collects the diffused error. ``kernel`` rows are
    (row offset, column offset along the scan direction, weight). The error a pixel carries is
    limited to ``max_carry`` (OKLab distance): without that, a hue the palette lacks piles up error
    until it bursts out as stray far-off colours (green dots in a yellow sky).
    """
    h, w = lab.shape[0], lab.shape[1]
    k = palette.shape[0]
    for y in range(h):
        step = 1 if y % 2 == 0 else -1
        for i in range(w):
            x = i if step == 1 else w - 1 - i
            if not solid[y, x]:
                continue
            d0 = lab[y, x, 0] - source[y, x, 0]
            d1 = lab[y, x, 1] - source[y, x, 1]
            d2 = lab[y, x, 2] - source[y, x, 2]
            carry = (d0 * d0 + d1 * d1 + d2 * d2) ** 0.5
            shrink = max_carry / carry if carry > max_carry else 1.0
            c0 = source[y, x, 0] + d0 * shrink
            c1 = source[y, x, 1] + d1 * shrink
            c2 = source[y, x, 2] + d2 * shrink
            best, best_d = 0, 1e30
            for j in range(k):
                d = (c0 - palette[j, 0]) ** 2 + (c1 - palette[j, 1]) ** 2 + (c2 - palette[j, 2]) ** 2
                if d < best_d:
                    best, best_d = j, d
            out[y, x] = best
            e0, e1, e2 = c0 - palette[best, 0], c1 - palette[best, 1], c2 - palette[best, 2]
            for r in range(kernel.shape[0]):
                yy = y + int(kernel[r, 0])
                xx = x + step * int(kernel[r, 1])
                if yy < h and 0 <= xx < w:
                    wt = kernel[r, 2]
                    lab[yy, xx, 0] += e0 * wt
                    lab[yy, xx, 1] += e1 * wt
                    lab[yy, xx, 2] += e2 * wt
