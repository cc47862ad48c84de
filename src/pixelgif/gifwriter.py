"""Lossless GIF bytes from palette-index frames: one global palette, delta rectangles, exact indices.

Pillow's own GIF writer remaps palettes, adds a local palette to every delta frame and always uses
8-bit LZW codes; writing the container here keeps indices exact and files small. Only the LZW
compression itself is Pillow's (its C "gif" encoder, through ``Image.tobytes``).
"""

from __future__ import annotations

import struct
from typing import Sequence

import numpy as np
from PIL import Image

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

# Disposal methods (GIF89a): 1 = leave the frame in place, 2 = clear its rectangle to transparent.
KEEP, CLEAR = 1, 2


def encode_gif(
    frames: Sequence[np.ndarray],
    palette: np.ndarray,
    durations: Sequence[int],
    loop: int = 0,
    transparent: int | None = None,
    optimize: bool = True,
) -> bytes:
    """Return a GIF file for HxW uint8 index ``frames`` on ``palette`` (Kx3 uint8).

    ``durations`` are milliseconds per frame; ``loop`` is how many times it plays (0 = forever).
    ``transparent`` is the index shown as see-through. With ``optimize``, frames after the first
    are written as the smallest rectangle that changed, and unchanged pixels inside it may use a
    transparent index where that compresses better; every candidate is lossless, the smallest wins.
    """
    frames = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if not optimize:
        return _encode(frames, palette, durations, loop, transparent, marker=None, deltas=False)
    if transparent is not None:
        return _encode(frames, palette, durations, loop, transparent, marker=transparent)
    spare = _spare_index(frames, len(palette))
    plain = None
    if spare is None or spare >= len(palette):
        # A spare index past the palette may grow the colour table; keep whichever is smaller.
        plain = _encode(frames, palette, durations, loop, None, marker=None)
    if spare is None:
        return plain
    marked = _encode(frames, palette, durations, loop, None, marker=spare)
    return marked if plain is None or len(marked) < len(plain) else plain


def _encode(frames, palette, durations, loop, transparent, marker, deltas=True) -> bytes:
    """Return the GIF bytes with one fixed choice of transparent and "unchanged" marker index."""
    height, width = frames[0].shape
    extra = [i + 1 for i in (marker, transparent) if i is not None]
    entries = max(len(palette), 2, *extra)
    table_bits = max(1, (entries - 1).bit_length())
    code_bits = max(2, table_bits)  # LZW minimum code size; GIF allows 2..8
    animated = len(frames) > 1
    parts = [_header(width, height, palette, table_bits, transparent or 0)]
    if animated and loop != 1:
        parts.append(_loop_extension(0 if loop == 0 else loop - 1))
    delays = centiseconds(durations)
    canvas = None  # what a viewer shows before the current frame is drawn
    for i, frame in enumerate(frames):
        nxt = _next_frame(frames, i, loop)
        rect, disposal = _plan(canvas, frame, nxt, transparent, deltas)
        x0, y0, x1, y1 = rect
        sub = frame[y0:y1, x0:x1]
        data, uses_transparency = _lzw(sub, code_bits), transparent is not None
        if marker is not None and canvas is not None:
            # Pixels the viewer already shows can be skipped: long runs of one index compress well.
            masked = np.where(canvas[y0:y1, x0:x1] == sub, np.uint8(marker), sub)
            masked_data = _lzw(masked, code_bits)
            if len(masked_data) < len(data):
                data, uses_transparency = masked_data, True
        gce_index = marker if marker is not None else transparent
        if animated or transparent is not None:
            parts.append(
                _control_extension(
                    delays[i] if animated else 0,
                    disposal if animated else 0,
                    gce_index if uses_transparency else None,
                )
            )
        parts.append(_image_block(rect, code_bits, data))
        canvas = frame
        if disposal == CLEAR:
            canvas = frame.copy()
            canvas[y0:y1, x0:x1] = transparent
    parts.append(b";")
    return b"".join(parts)


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
    if canvas is None or not deltas:
        rect = full
    else:
        rect = bbox(canvas != frame) or (0, 0, 1, 1)
    if transparent is None:
        return rect, KEEP
    if not deltas:
        return rect, CLEAR  # every frame is drawn whole on a cleared canvas
    if nxt is not None:
        # Drawing can never turn a shown pixel transparent again, so a pixel that is opaque now
        # and transparent next must be cleared when this frame is disposed.
        cleared = (frame != transparent) & (nxt == transparent)
        if cleared.any():
            return union(rect, bbox(cleared)), CLEAR
    return rect, KEEP


def _spare_index(frames, palette_size: int) -> int | None:
    """Return an index no frame uses (inside the palette if possible), or None if all 256 are."""
    used = np.zeros(256, dtype=bool)
    for frame in frames:
        used[np.unique(frame)] = True
    free = np.flatnonzero(~used)
    if not len(free):
        return None
    inside = free[free < palette_size]
    return int(inside[0]) if len(inside) else int(free[0])


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


def _lzw(indices: np.ndarray, code_bits: int) -> bytes:
    """Return LZW data sub-blocks (without the terminating zero block) for an index array."""
    return Image.fromarray(np.ascontiguousarray(indices)).tobytes("gif", "L", code_bits, 0)


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
