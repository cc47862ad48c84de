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

    A delta frame's code size covers the largest index it draws (plus a free one for unchanged
    pixels), so colours drawn by frames that change few colours should come first. Candidates:
    palette order, its reverse, most drawn first, and colours of the frames with fewest changed
    colours first; each is scored as changed pixels x code bits, palette order winning ties.
    """
    changed_sets, weights = [], []
    previous = None
    for frame in frames:
        values = frame if previous is None else frame[frame != previous]
        if transparent is not None:
            values = values[values != transparent]
        changed_sets.append(np.unique(values))
        weights.append(max(len(values), 1))
        previous = frame
    by_frame: list[list[int]] = []
    seen: set[int] = set()
    for k in sorted(range(len(frames)), key=lambda k: (len(changed_sets[k]), k)):
        for value in sorted(changed_sets[k].tolist(), key=lambda v: -counts[v]):
            group = next(g for g in groups if value in g)
            if group[0] not in seen:
                seen.add(group[0])
                by_frame.append(group)
    by_frame += [g for g in groups if g[0] not in seen]
    candidates = [groups, groups[::-1], sorted(groups, key=lambda g: -counts[g].sum()), by_frame]
    return min(candidates, key=lambda order: _estimated_bits(order, changed_sets, weights))


def _estimated_bits(order, changed_sets, weights) -> int:
    """Return sum of changed pixels x LZW code size, for palette ``order``."""
    new_index = np.zeros(256, dtype=np.int64)
    for new, group in enumerate(order):
        new_index[group] = new
    total = 0
    for values, weight in zip(changed_sets, weights):
        top = int(new_index[values].max()) + 1 if len(values) else 0  # +1: room for a see-through index
        total += weight * max(2, top.bit_length())
    return total
