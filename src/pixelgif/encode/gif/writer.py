"""Lossless GIF bytes from palette-index frames: one global palette, delta rectangles, exact indices.

Pillow's own GIF writer remaps palettes, adds a local palette to every delta frame and always uses
8-bit LZW codes; writing the container here keeps indices exact and files small. The LZW encoder
(``lzw``) treats pixels a delta frame may leave unchanged as wildcards.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .palette import compact_palette
from .palette import table_bits as palette_bits

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

# Disposal methods (GIF89a): 1 = leave the frame in place, 2 = clear its rectangle to transparent.
KEEP, CLEAR = 1, 2
# Pixels: smaller frames never fill the 4096-code LZW table (it starts at 258 codes at most), so
# whether to clear it when full does not matter for them.
_CLEAR_MATTERS = 4096 - 258
# What the LZW encoder does when its table is full, as (clear_when_full, adaptive_clear): clear at
# once, never clear, or clear once strings get short (gifsicle's way). Big frames try all three.
_CLEAR_POLICIES = ((True, False), (False, False), (False, True))
# Candidates that make runs of unchanged pixels see-through: any run (two or more adjacent runs of
# different colours are gifsicle's rule, `_see_through_stretches`, which takes part runs too).
_SEE_THROUGH_RUNS = (1,)
# Of those candidates, how many of the smallest under the first clear policy try the others (the
# best under one policy need not be the best under another).
_OTHER_POLICIES_FOR = 2


def encode_gif(
    frames: Sequence[np.ndarray],
    palette: np.ndarray,
    durations: Sequence[int],
    loop: int = 0,
    transparent: int | None = None,
    optimize: bool = True,
    compact: bool = False,
) -> bytes:
    """Return a GIF file for HxW uint8 index ``frames`` on ``palette`` (Kx3 uint8).

    ``durations`` are milliseconds per frame; ``loop`` is how many times it plays (0 = forever).
    ``transparent`` is the index shown as see-through. With ``optimize``, frames after the first
    are written as the smallest rectangle that changed, and unchanged pixels inside it may be
    skipped where that compresses better; without, every frame is written whole. With
    ``compact``, the colour table holds only the colours drawn (see ``gifpalette``): the pixels
    a viewer sees stay exact, the index values do not; without, indices and palette are exact.
    """
    frames = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if compact:
        frames, palette, transparent = compact_palette(frames, palette, transparent)
        if transparent is not None:
            # Transparency needs no entry of its own: it is a free index, or the one just past the table.
            return _encode(frames, palette, durations, loop, transparent, optimize, palette_bits(transparent, None))
    return _encode(frames, palette, durations, loop, transparent, optimize, palette_bits(len(palette), transparent))


def _encode(frames, palette, durations, loop, transparent, optimize, table_bits) -> bytes:
    """Return the GIF file with a ``table_bits`` colour table (see ``encode_gif``)."""
    height, width = frames[0].shape
    animated = len(frames) > 1
    background = transparent if transparent is not None and transparent < 1 << table_bits else 0
    parts = [_header(width, height, palette, table_bits, background)]
    if animated and loop != 1:
        parts.append(_loop_extension(0 if loop == 0 else loop - 1))
    delays = centiseconds(durations)
    canvas = None  # what a viewer shows before the current frame is drawn
    for i, frame in enumerate(frames):
        rect, disposal = _plan(canvas, frame, _next_frame(frames, i, loop), transparent, optimize)
        data, code_bits, shown_through = _frame_data(canvas, frame, rect, transparent, table_bits, optimize)
        if animated or shown_through is not None:
            parts.append(
                _control_extension(
                    delays[i] if animated else 0,
                    disposal if animated else 0,
                    shown_through,
                )
            )
        parts.append(_image_block(rect, code_bits, data))
        canvas = frame
        if disposal == CLEAR:
            x0, y0, x1, y1 = rect
            canvas = frame.copy()
            canvas[y0:y1, x0:x1] = transparent
    parts.append(b";")
    return b"".join(parts)


def _frame_data(canvas, frame, rect, transparent, table_bits, optimize) -> tuple[bytes, int, int | None]:
    """Return LZW data for ``frame`` inside ``rect``, its code size, and the see-through index.

    Pixels the viewer already shows may be written as a "see-through" marker index instead, or
    as themselves: the LZW encoder treats them as wildcards and takes whichever continues its
    string. The marker can be any index that no changed pixel uses (a changed pixel is never
    transparent: that case was cleared by the previous disposal), and the smallest free one keeps
    LZW codes short. When the changed pixels draw every colour of the table, the marker is the
    index just past it (as gifsicle does: the table stays, the code size grows by one bit; not
    possible with 256 colours). Each marker is tried with every unchanged pixel see-through, with
    wildcards, and with only whole runs (``_see_through_runs``) or gifsicle's stretches
    (``_see_through_stretches``) of unchanged pixels see-through, plus the plain rectangle; the
    stretches also with the free index that unchanged pixels draw most as the marker. Frames that
    fill the LZW table try each ``_CLEAR_POLICIES`` too (of the run, stretch and past-the-table
    candidates, the `_OTHER_POLICIES_FOR` best of them); the smallest wins. A ``transparent``
    index just past the colour table (``compact``) is replaced by a free one where the frame
    leaves one.
    """
    x0, y0, x1, y1 = rect
    sub = frame[y0:y1, x0:x1]
    candidates = [(sub, None, transparent)]
    extra: list[tuple[np.ndarray, np.ndarray | None, int | None]] = []  # their clear policies: only the best's
    if canvas is not None and optimize:
        unchanged = canvas[y0:y1, x0:x1] == sub
        # The smallest free index keeps codes short; the free index that unchanged pixels draw most
        # lets those pixels be see-through and themselves at once (gifsicle's choice, in effect).
        changed_counts = np.bincount(sub[~unchanged].ravel(), minlength=256)[: 1 << table_bits]
        markers = [_first_zero(changed_counts)]
        most_drawn = _most_drawn_free(sub, unchanged, changed_counts) if transparent is None else None
        # A transparent index outside the table becomes a free one anyway (``_outside_table``).
        markers += [transparent] if transparent is not None and transparent < 1 << table_bits else []
        past_table = None
        if not any(m is not None for m in markers) and table_bits < 8:
            past_table = 1 << table_bits  # one more bit per code, far longer strings
            markers.append(past_table)
        stretches = _see_through_stretches(sub, unchanged)
        for marker in dict.fromkeys(m for m in markers if m is not None):
            symbols = np.where(unchanged, np.uint8(marker), sub)
            # An unchanged transparent pixel drawn as its own index would turn opaque under another marker.
            free = unchanged & ((sub != transparent) if marker != transparent else True)
            group = extra if marker == past_table else candidates
            group.append((symbols, None, marker))  # every unchanged pixel see-through
            group.append((symbols, np.where(free, sub.astype(np.int16), np.int16(-1)), marker))
            must = unchanged & (sub == transparent) if marker != transparent else None
            for see_through in [_see_through_runs(sub, unchanged, runs) for runs in _SEE_THROUGH_RUNS] + [stretches]:
                if must is not None:
                    see_through |= must
                extra.append((np.where(see_through, np.uint8(marker), sub), None, marker))
            if most_drawn is not None and most_drawn != marker and marker != past_table:
                extra.append((np.where(stretches, np.uint8(most_drawn), sub), None, most_drawn))
    limit = 1 << table_bits
    if transparent is not None and transparent >= limit:
        candidates = [_outside_table(c, transparent, limit) for c in candidates]
        extra = [_outside_table(c, transparent, limit) for c in extra]
    best: tuple[bytes, int, int | None] | None = None
    for group, all_policies in ((candidates, True), (extra, False)):
        firsts = []  # (size, symbols, alternatives, index) under the first policy
        for symbols, alternatives, index in group:
            data, code_bits = _lzw(symbols, alternatives, False, *_CLEAR_POLICIES[0])
            if best is None or len(data) < len(best[0]):
                best = (data, code_bits, index)
            if symbols.size >= _CLEAR_MATTERS and _table_filled(data, code_bits):
                firsts.append((len(data), symbols, alternatives, index))
        # The other policies differ only once the table is full.
        if firsts and not all_policies:
            firsts = sorted(firsts, key=lambda first: first[0])[:_OTHER_POLICIES_FOR]
        for _, symbols, alternatives, index in firsts:
            for clear in _CLEAR_POLICIES[1:]:
                data, code_bits = _lzw(symbols, alternatives, False, *clear)
                if best is None or len(data) < len(best[0]):
                    best = (data, code_bits, index)
    assert best is not None  # the plain rectangle is always a candidate
    return best


def _see_through_runs(sub: np.ndarray, unchanged: np.ndarray, min_runs: int) -> np.ndarray:
    """Return which pixels to write see-through: those of ``min_runs`` or more adjacent runs (in
    scan order) of unchanged pixels, each run one colour (gifsicle's heuristic: a lone run is as
    long in its own colour, but see-through joins runs of different colours into one)."""
    flat, keep = sub.ravel(), unchanged.ravel()
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lengths = np.diff(np.r_[starts, len(flat)])
    whole = np.add.reduceat((~keep).astype(np.int32), starts) == 0  # every pixel of the run unchanged
    # Number the stretches of consecutive whole runs and count the runs in each.
    stretch = np.cumsum(np.r_[True, whole[1:] != whole[:-1]])
    runs_in = np.bincount(stretch)[stretch]
    return np.repeat(whole & (runs_in >= min_runs), lengths).reshape(sub.shape)


def _see_through_stretches(sub: np.ndarray, unchanged: np.ndarray) -> np.ndarray:
    """Return which pixels to write see-through by gifsicle's -O2 rule: every stretch of unchanged
    pixels (in scan order) that changes colour somewhere inside it, whole; a stretch of one colour
    stays that colour (as a run it is as long, and it may continue a run of changed pixels)."""
    flat, keep = sub.ravel(), unchanged.ravel()
    number = np.cumsum(keep & ~np.r_[False, keep[:-1]]) * keep  # stretch number, 0 for changed pixels
    inside_change = np.r_[False, (flat[1:] != flat[:-1]) & keep[1:] & keep[:-1]]
    mixed = np.bincount(number, weights=inside_change, minlength=int(number.max()) + 1) > 0
    mixed[0] = False
    return mixed[number].reshape(sub.shape)


def _most_drawn_free(sub: np.ndarray, unchanged: np.ndarray, changed_counts: np.ndarray) -> int | None:
    """Return the index that no changed pixel draws (``changed_counts``: how often changed pixels
    draw each index the table has) and unchanged pixels draw most; None when they draw no such index."""
    counts = np.bincount(sub[unchanged].ravel(), minlength=256)[: len(changed_counts)]
    counts[changed_counts > 0] = 0
    return int(counts.argmax()) if counts.max() > 0 else None


def _first_zero(counts: np.ndarray) -> int | None:
    """Return the smallest index whose count is zero, or None."""
    zero = np.flatnonzero(counts == 0)
    return int(zero[0]) if len(zero) else None


def _table_filled(data: bytes, code_bits: int) -> bool:
    """Return False if LZW ``data`` (in sub-blocks) is too short to have filled the 4096-code table."""
    return len(data) * 8 >= _fill_bits(code_bits)


@functools.cache
def _fill_bits(bits: int) -> int:
    """Return the bits of LZW data it takes to fill the table: one code per new entry, each at least as
    wide as the table is big at that moment (a lower bound: sub-block bytes and the clear code come on top)."""
    return sum(max(bits + 1, min(12, (code - 1).bit_length())) for code in range((1 << bits) + 2, 4096))


def _outside_table(candidate, transparent, limit):
    """Return ``candidate`` with the ``transparent`` index (just past the table) replaced by a free
    one; unchanged if the frame draws every colour of the table."""
    symbols, alternatives, marker = candidate
    if marker != transparent:
        return candidate
    see_through = symbols == transparent
    if not see_through.any():
        return symbols, alternatives, None
    drawn = symbols[~see_through]
    if alternatives is not None:
        drawn = np.concatenate([drawn, alternatives[alternatives >= 0].astype(np.uint8)])
    free = _free_index(np.append(drawn, np.uint8(transparent)), limit)
    if free is None:
        return candidate
    symbols = np.where(see_through, np.uint8(free), symbols)
    if alternatives is not None:
        alternatives = np.where(alternatives == transparent, np.int16(free), alternatives)
    return symbols, alternatives, free


def _free_index(values: np.ndarray, limit: int) -> int | None:
    """Return the smallest index below ``limit`` that is not among ``values``, or None."""
    free = np.flatnonzero(np.bincount(values.ravel(), minlength=256)[:limit] == 0)
    return int(free[0]) if len(free) else None


def _next_frame(frames, i, loop) -> np.ndarray | None:
    """Return the frame shown after frame ``i`` (the first again when the animation repeats)."""
    if i + 1 < len(frames):
        return frames[i + 1]
    if len(frames) > 1 and loop != 1:
        return frames[0]
    return None


def _plan(canvas, frame, nxt, transparent, deltas) -> tuple[Rect, int]:
    """Return the rectangle to draw for ``frame`` and its disposal method."""
    height, width = frame.shape
    full = (0, 0, width, height)
    rect = full if canvas is None or not deltas else bbox(canvas != frame) or (0, 0, 1, 1)
    if transparent is None:
        return rect, KEEP
    if not deltas:
        return rect, CLEAR  # every frame is drawn whole on a cleared canvas
    if nxt is not None:
        # Drawing can never turn a shown pixel transparent again, so a pixel that is opaque now
        # and transparent next must be cleared when this frame is disposed.
        cleared = (frame != transparent) & (nxt == transparent)
        cleared_box = bbox(cleared)
        if cleared_box is not None:
            return union(rect, cleared_box), CLEAR
    return rect, KEEP


def bbox(mask: np.ndarray) -> Rect | None:
    """Return the bounding rectangle of the True pixels of a 2-D mask, or None if there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def union(a: Rect, b: Rect) -> Rect:
    """Return the smallest rectangle holding both ``a`` and ``b``."""
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def centiseconds(durations_ms: Sequence[int]) -> list[int]:
    """Return GIF delays (1/100 s) whose running total tracks the milliseconds without drift."""
    delays, shown, elapsed = [], 0, 0
    for ms in durations_ms:
        elapsed += ms
        target = int(elapsed / 10 + 0.5)
        delays.append(min(max(target - shown, 1), 0xFFFF))
        shown += delays[-1]
    return delays


def _lzw(
    symbols: np.ndarray,
    alternatives: np.ndarray | None = None,
    prefer_alternative: bool = False,
    clear: bool = True,
    adaptive_clear: bool = False,
) -> tuple[bytes, int]:
    """Return LZW data sub-blocks (without the zero terminator) and the minimum code size used.

    The code size only has to cover the largest index that may be written, so frames that use
    only low indices get shorter codes than the colour table would need (GIF allows 2..8 bits).
    """
    top = int(symbols.max())
    if alternatives is not None:
        top = max(top, int(alternatives.max()))
    code_bits = max(2, top.bit_length())
    from ...numba_jit import HAVE_NUMBA  # numba loads on the first GIF, not on import
    from .lzw import lzw_compress, sub_blocks

    if not HAVE_NUMBA:  # plain Python would be far too slow: Pillow's encoder, no wildcards
        data = Image.fromarray(np.ascontiguousarray(symbols)).tobytes("gif", "L", code_bits, 0)
        return data, code_bits
    data = lzw_compress(symbols, alternatives, code_bits, prefer_alternative, clear, adaptive_clear)
    return sub_blocks(data), code_bits


def _header(width: int, height: int, palette: np.ndarray, table_bits: int, background: int) -> bytes:
    """Return the signature, logical screen descriptor and global colour table."""
    table = np.zeros((1 << table_bits, 3), dtype=np.uint8)
    table[: len(palette)] = palette[: len(table)]
    flags = 0x80 | 0x70 | (table_bits - 1)  # global table, 8-bit colour resolution, table size
    return b"GIF89a" + struct.pack("<HHBBB", width, height, flags, background, 0) + table.tobytes()


def _loop_extension(repeats: int) -> bytes:
    """Return the NETSCAPE2.0 block: ``repeats`` extra plays after the first, 0 = forever."""
    return b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", repeats) + b"\x00"


def _control_extension(delay_cs: int, disposal: int, transparent: int | None) -> bytes:
    """Return a graphic control extension (delay, disposal, transparent index)."""
    flags = (disposal << 2) | (1 if transparent is not None else 0)
    return b"!\xf9\x04" + struct.pack("<BHB", flags, delay_cs, transparent or 0) + b"\x00"


def _image_block(rect: Rect, code_bits: int, data: bytes) -> bytes:
    """Return an image descriptor (no local palette) with its LZW data."""
    x0, y0, x1, y1 = rect
    return b"," + struct.pack("<HHHHB", x0, y0, x1 - x0, y1 - y0, 0) + bytes([code_bits]) + data + b"\x00"
