"""GIF's LZW compression with "don't care" pixels (numba, compiled once and cached on disk).

A delta frame may show an unchanged pixel either with its own index or with the frame's
see-through index: both look the same. The encoder gets, per pixel, the index it must write and
optionally a second index it may write instead, and picks whichever lets the current LZW string
grow longer (a greedy parse that treats those pixels as wildcards). With no alternatives it is a
plain GIF LZW encoder: variable code width from ``code_bits + 1`` to 12 bits, a clear code when
the 4096-entry table is full.
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the package importable
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda function: function)


MAX_CODES = 4096
NO_ALTERNATIVE = -1


def lzw_compress(
    symbols: np.ndarray,
    alternatives: np.ndarray | None,
    code_bits: int,
    prefer_alternative: bool = False,
    clear_when_full: bool = True,
) -> bytes:
    """Return the packed LZW code stream (no sub-block framing) of ``symbols`` (uint8, 1-D).

    ``alternatives`` (int16, same length, -1 where there is none) are indices that may be written
    instead; ``prefer_alternative`` breaks ties toward them. ``code_bits`` is GIF's minimum code
    size (2..8) and must cover every symbol and alternative. When the table is full, either clear
    it (``clear_when_full``) or keep using it unchanged (a "deferred clear", valid GIF).
    """
    symbols = np.ascontiguousarray(symbols, dtype=np.uint8).reshape(-1)
    if alternatives is None:
        alternatives = np.full(len(symbols), NO_ALTERNATIVE, dtype=np.int16)
    alternatives = np.ascontiguousarray(alternatives, dtype=np.int16).reshape(-1)
    # Worst case: one 12-bit code per pixel plus a clear code every ~4000 codes, and the ends.
    out = np.zeros((len(symbols) + len(symbols) // 1000 + 8) * 2, dtype=np.uint8)
    table = np.zeros(MAX_CODES << code_bits, dtype=np.int16)
    used = np.zeros(MAX_CODES, dtype=np.int32)
    size = _compress(symbols, alternatives, code_bits, prefer_alternative, clear_when_full, table, used, out)
    return out[:size].tobytes()


@njit(cache=True, nogil=True)
def _extend_length(table, symbols, alternatives, start_code, position, alphabet_bits, limit):  # pragma: no cover
    """Return how many more pixels from ``position`` the string ``start_code`` can absorb."""
    code = start_code
    count = 0
    n = len(symbols)
    while position + count < n and count < limit:
        i = position + count
        nxt = table[(code << alphabet_bits) + symbols[i]]
        alt = alternatives[i]
        if nxt == 0 and alt >= 0:
            nxt = table[(code << alphabet_bits) + alt]
        if nxt == 0:
            break
        code = nxt
        count += 1
    return count


@njit(cache=True, nogil=True)
def _compress(symbols, alternatives, code_bits, prefer_alternative, clear_when_full, table, used, out):  # pragma: no cover
    """Write the LZW code stream into ``out``; return the number of bytes used."""
    clear = 1 << code_bits
    first_free = clear + 2
    bits = 0  # bit buffer
    nbits = 0
    size = 0
    next_code = first_free
    nused = 0
    n = len(symbols)

    # emit(clear) at the starting width
    width = code_bits + 1
    bits |= clear << nbits
    nbits += width
    while nbits >= 8:
        out[size] = bits & 255
        size += 1
        bits >>= 8
        nbits -= 8
    if n == 0:
        code = clear + 1
        bits |= code << nbits
        nbits += width
        while nbits > 0:
            out[size] = bits & 255
            size += 1
            bits >>= 8
            nbits -= 8
        return size

    current = np.int64(symbols[0])
    if alternatives[0] >= 0 and prefer_alternative:
        current = np.int64(alternatives[0])
    i = 1
    while i < n:
        s = symbols[i]
        a = alternatives[i]
        child = np.int64(table[(current << code_bits) + s])
        if a >= 0:
            other = np.int64(table[(current << code_bits) + a])
            if other != 0:
                if child == 0:
                    child = other
                else:
                    # both continue the string: take the one that goes further
                    reach_s = _extend_length(table, symbols, alternatives, child, i + 1, code_bits, 64)
                    reach_a = _extend_length(table, symbols, alternatives, other, i + 1, code_bits, 64)
                    if reach_a > reach_s or (reach_a == reach_s and prefer_alternative):
                        child = other
        if child != 0:
            current = child
            i += 1
            continue
        # emit the current string; its code width is what the decoder expects now
        width = code_bits + 1
        top = next_code - 1
        while (1 << width) <= top and width < 12:
            width += 1
        bits |= current << nbits
        nbits += width
        while nbits >= 8:
            out[size] = bits & 255
            size += 1
            bits >>= 8
            nbits -= 8
        # the next string starts at pixel i: pick its first index
        start = np.int64(s)
        if a >= 0:
            if prefer_alternative:
                start = np.int64(a)
            reach_s = _extend_length(table, symbols, alternatives, np.int64(s), i + 1, code_bits, 64)
            reach_a = _extend_length(table, symbols, alternatives, np.int64(a), i + 1, code_bits, 64)
            if reach_a > reach_s:
                start = np.int64(a)
            elif reach_s > reach_a:
                start = np.int64(s)
        if next_code < 4096:
            slot = (current << code_bits) + start
            table[slot] = next_code
            used[nused] = slot
            nused += 1
            next_code += 1
        elif clear_when_full:
            # table full: clear it (at 12 bits) and start over
            bits |= clear << nbits
            nbits += 12
            while nbits >= 8:
                out[size] = bits & 255
                size += 1
                bits >>= 8
                nbits -= 8
            for k in range(nused):
                table[used[k]] = 0
            nused = 0
            next_code = first_free
        current = start
        i += 1

    # the last string, then end of information
    for k in range(2):
        code = current if k == 0 else np.int64(clear + 1)
        width = code_bits + 1
        top = next_code - 1
        while (1 << width) <= top and width < 12:
            width += 1
        bits |= code << nbits
        nbits += width
        while nbits >= 8:
            out[size] = bits & 255
            size += 1
            bits >>= 8
            nbits -= 8
        if next_code < 4096:
            next_code += 1  # the decoder adds an entry on reading the last string
    if nbits > 0:
        out[size] = bits & 255
        size += 1
    return size


def sub_blocks(data: bytes) -> bytes:
    """Return ``data`` cut into GIF data sub-blocks (length byte + up to 255 bytes), unterminated."""
    return b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
