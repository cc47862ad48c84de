"""Palette compaction for GIF: the same pixels on the fewest, best-ordered colour table entries.

GIF's LZW codes are one bit wider than the colour table needs, and a frame whose indices are all
small may use shorter codes still. Dropping colours no frame uses, merging opaque entries of one
colour, and moving the transparent entry last keeps what a viewer sees (RGBA) exactly and the colours'
order, but not the index values.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

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
    costs = np.array([[_frame_bits(codes, bits) for bits in range(2, 9)] for codes in _code_counts(frames)])
    by_frame: dict[int, None] = {}  # insertion-ordered set
    drawn_counts = np.array([counts[group].sum() for group in groups])
    for f in np.argsort(member.sum(axis=1), kind="stable"):
        drawn = np.flatnonzero(member[f])
        by_frame.update(dict.fromkeys(drawn[np.argsort(-drawn_counts[drawn], kind="stable")].tolist()))
    by_frame.update(dict.fromkeys(range(len(groups))))
    own = list(range(len(groups)))
    candidates = [own, own[::-1], sorted(own, key=lambda g: -drawn_counts[g]), list(by_frame)]
    order = min(candidates, key=lambda o: _order_bits(o, member, costs))
    order = _improve_by_swaps(order, member, costs)
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
    from .gif_lzw import HAVE_NUMBA, lzw_compress

    counts, previous = [], None
    for frame in frames:
        if previous is None:
            symbols = frame
        else:
            mask = frame != previous
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            if not len(rows):
                counts.append(1)
                continue
            window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            symbols = np.where(mask[window], frame[window], 255)  # unchanged pixels: one symbol
        previous = frame
        if not HAVE_NUMBA:  # pragma: no cover
            counts.append(max(1, symbols.size // 4))
            continue
        size_bits = 8 * len(lzw_compress(symbols, None, 8))
        counts.append(_codes_in(size_bits, 8))
    return counts


def _widths(bits: int, count: int) -> np.ndarray:
    """Return the width of each of ``count`` LZW codes with minimum code size ``bits``."""
    next_code = (1 << bits) + 2 + np.arange(count) % (4096 - (1 << bits) - 2)  # tables clear when full
    return np.minimum(12, np.maximum(bits + 1, np.floor(np.log2(np.maximum(next_code - 1, 1))).astype(int) + 1))


def _codes_in(size_bits: int, bits: int) -> int:
    """Return how many codes of minimum code size ``bits`` fill ``size_bits`` bits."""
    total = np.cumsum(_widths(bits, max(1, size_bits // (bits + 1))))
    return max(1, int(np.searchsorted(total, size_bits)))


def _frame_bits(codes: int, bits: int) -> int:
    """Return the bits ``codes`` LZW codes take with minimum code size ``bits``."""
    return int(_widths(bits, codes).sum())


def _order_bits(order, member, costs) -> int:
    """Return the estimated LZW bits of all frames when the groups are numbered in ``order``."""
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    drawn = member.sum(axis=1)
    top = np.where(member, position[None, :] + 1, 0).max(axis=1)  # largest index + 1 (0: draws none)
    top = np.maximum(top, drawn + 1)  # a free index for unchanged pixels (approximate)
    bits = np.clip(np.ceil(np.log2(np.maximum(top, 1))).astype(int), 2, 8)
    return int(costs[np.arange(len(costs)), bits - 2].sum())


def _improve_by_swaps(order, member, costs, max_groups: int = 64, rounds: int = 3) -> list[int]:
    """Return ``order`` after swapping pairs of entries while that lowers the estimated bits."""
    if len(order) > max_groups or len(order) < 3:
        return order
    order = list(order)
    best = _order_bits(order, member, costs)
    for _ in range(rounds):
        improved = False
        for i in range(len(order)):
            for j in range(i + 1, len(order)):
                order[i], order[j] = order[j], order[i]
                bits = _order_bits(order, member, costs)
                if bits < best:
                    best, improved = bits, True
                else:
                    order[i], order[j] = order[j], order[i]
        if not improved:
            break
    return order
