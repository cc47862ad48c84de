"""Palette compaction for GIF: the same pixels on the fewest, best-ordered colour table entries.

GIF's LZW codes are one bit wider than the colour table needs, and a frame whose indices are all
small may use shorter codes still. Dropping colours no frame uses, merging opaque entries of one
colour, and moving the transparent entry last keeps what a viewer sees (RGBA) exactly and the colours'
order, but not the index values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Compacted(NamedTuple):
    """Frames renumbered onto ``palette``; ``transparent`` is the see-through index or None."""

    frames: list[np.ndarray]
    palette: np.ndarray
    transparent: int | None


def table_bits(palette_size: int, transparent: int | None) -> int:
    """Return the colour table's size in bits (1..8) for ``palette_size`` entries and ``transparent``."""
    entries = max(palette_size, 2, (transparent + 1) if transparent is not None else 0)
    return max(1, (entries - 1).bit_length())


def compact_palette(frames: Sequence[np.ndarray], palette: np.ndarray, transparent: int | None) -> Compacted:
    """Return ``frames`` renumbered onto the colours they use, transparent last.

    Opaque entries of one RGB become one entry; the transparent entry keeps its RGB. Every new
    entry is one of ``palette``'s colours. The order is the palette's own unless another one
    lets more frames use shorter LZW codes (see ``_best_order``).
    """
    counts = np.zeros(256, dtype=np.int64)
    for frame in frames:
        counts += np.bincount(frame.ravel(), minlength=256)
    used = np.flatnonzero(counts)
    if used[-1] >= len(palette):
        raise ValueError(f"index {used[-1]} is outside the {len(palette)}-colour palette")
    # Group the used indices by what a viewer sees: RGB, and whether it is the transparent one.
    groups: dict[tuple, list[int]] = {}
    for index in used:
        groups.setdefault((tuple(palette[index]), index == transparent), []).append(int(index))
    opaque = [g for g in groups.values() if g[0] != transparent]
    members = _best_order(frames, opaque, counts, transparent)
    members += [g for g in groups.values() if g[0] == transparent]  # last: the encoder may leave it out
    mapping = np.zeros(256, dtype=np.uint8)
    new_palette = np.zeros((len(members), 3), dtype=np.uint8)
    new_transparent = None
    for new, group in enumerate(members):
        mapping[group] = new
        new_palette[new] = palette[group[0]]
        if group[0] == transparent:
            new_transparent = new
    return Compacted([mapping[frame] for frame in frames], new_palette, new_transparent)


def _best_order(frames, groups: list[list[int]], counts: np.ndarray, transparent) -> list[list[int]]:
    """Return ``groups`` (old indices per new entry) in the order with the cheapest estimated codes.

    LZW output depends on the order only through each frame's code size, which must cover the
    largest index the frame draws (plus a free one for pixels it leaves unchanged). So colours
    that frames with few changed colours draw should come first. Candidates (palette order, its
    reverse, most drawn first, colours of the frames with fewest changed colours first) are
    scored with each frame's code count, the best is improved by swapping pairs, and palette
    order wins ties.
    """
    changed = _changed_colours(frames, transparent)
    member = np.zeros((len(frames), len(groups)), dtype=bool)  # frame draws a colour of group g
    for g, group in enumerate(groups):
        member[:, g] = changed[:, group].any(axis=1)
    costs = np.array([[_code_bits_total(codes, bits) for bits in range(2, 9)] for codes in _code_counts(frames)])
    by_frame: dict[int, None] = {}  # insertion-ordered set
    drawn_counts = np.array([counts[group].sum() for group in groups])
    for f in np.argsort(member.sum(axis=1), kind="stable"):
        drawn = np.flatnonzero(member[f])
        by_frame.update(dict.fromkeys(drawn[np.argsort(-drawn_counts[drawn], kind="stable")].tolist()))
    by_frame.update(dict.fromkeys(range(len(groups))))
    own = list(range(len(groups)))
    candidates = np.array([own, own[::-1], sorted(own, key=lambda g: -drawn_counts[g]), list(by_frame)])
    scores = _order_bits(candidates, member, costs)
    order = _improve_by_swaps(candidates[int(np.argmin(scores))], member, costs)
    return [groups[g] for g in order]


def _changed_colours(frames, transparent) -> np.ndarray:
    """Return a frames x 256 bool array: which opaque colours each frame draws over the last one."""
    changed = np.zeros((len(frames), 256), dtype=bool)
    previous = None
    for f, frame in enumerate(frames):
        values = frame if previous is None else frame[frame != previous]
        changed[f, values] = True
        previous = frame
    if transparent is not None:
        changed[:, transparent] = False
    return changed


def _code_counts(frames) -> list[int]:
    """Return roughly how many LZW codes each frame takes (what a shorter code size saves on)."""
    from ...numba_jit import HAVE_NUMBA
    from .lzw import lzw_compress

    counts, previous = [], None
    for frame in frames:
        window = frame
        box: tuple[slice, slice] = (slice(None), slice(None))
        if previous is not None:
            mask = frame != previous
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            if not len(rows):
                counts.append(1)
                continue
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            window = np.where(mask[box], frame[box].astype(np.int16), -1)  # unchanged pixels: one symbol
        previous = frame
        # The code count does not depend on which number each colour has: renumber 0..k-1.
        values, symbols = np.unique(window, return_inverse=True)
        if len(values) > 256:  # every colour changes: no room for the unchanged symbol, count it plain
            values, symbols = np.unique(frame[box], return_inverse=True)
        bits = max(2, (len(values) - 1).bit_length())
        if not HAVE_NUMBA:  # pragma: no cover
            counts.append(max(1, window.size // 4))
            continue
        counts.append(_codes_in(8 * len(lzw_compress(symbols.astype(np.uint8), None, bits)), bits))
    return counts


def _cycle_widths(bits: int) -> np.ndarray:
    """Return the cumulative widths of the codes of one full LZW table with minimum code size ``bits``."""
    next_code = np.arange((1 << bits) + 2, 4096)  # the table clears when full
    return np.cumsum(np.minimum(12, np.maximum(bits + 1, np.ceil(np.log2(next_code)).astype(np.int64))))


_CYCLES = {bits: _cycle_widths(bits) for bits in range(2, 9)}


def _code_bits_total(codes: int, bits: int) -> int:
    """Return the bits ``codes`` LZW codes take with minimum code size ``bits``."""
    cycle = _CYCLES[bits]
    full, rest = divmod(codes, len(cycle))
    return int(full * cycle[-1] + (cycle[rest - 1] if rest else 0))


def _codes_in(size_bits: int, bits: int) -> int:
    """Return how many codes of minimum code size ``bits`` fill ``size_bits`` bits."""
    cycle = _CYCLES[bits]
    full, rest = divmod(size_bits, int(cycle[-1]))
    return max(1, int(full * len(cycle) + np.searchsorted(cycle, rest)))


def _order_bits(orders: np.ndarray, member: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Return the estimated LZW bits of all frames for each row of ``orders`` (groups in new order)."""
    position = np.empty_like(orders)
    np.put_along_axis(position, orders, np.arange(orders.shape[1])[None, :], axis=1)
    top = (member[None, :, :] * (position[:, None, :] + 1)).max(axis=2)  # largest index + 1 per frame
    top = np.maximum(top, member.sum(axis=1)[None, :] + 1)  # room for a free index (approximate)
    bits = np.clip(np.ceil(np.log2(np.maximum(top, 1))).astype(np.int64), 2, 8)
    return costs[np.arange(len(costs))[None, :], bits - 2].sum(axis=1)


def _improve_by_swaps(order: np.ndarray, member, costs, max_groups: int = 64, steps: int = 64) -> list[int]:
    """Return ``order`` after taking the best swap of two entries while one lowers the estimated bits."""
    n = len(order)
    order = np.array(order)
    if n < 3 or n > max_groups:
        return order.tolist()
    first, second = np.triu_indices(n, 1)
    best = _order_bits(order[None, :], member, costs)[0]
    for _ in range(steps):
        swapped = np.repeat(order[None, :], len(first), axis=0)
        rows = np.arange(len(first))
        swapped[rows, first], swapped[rows, second] = order[second], order[first]
        scores = _order_bits(swapped, member, costs)
        k = int(np.argmin(scores))
        if scores[k] >= best:
            break
        best, order = scores[k], swapped[k]
    return order.tolist()
