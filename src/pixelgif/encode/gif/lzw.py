"""GIF's LZW compression with "don't care" pixels (numba, compiled once and cached on disk).

A delta frame may show an unchanged pixel either with its own index or with the frame's
see-through index: both look the same. The encoder gets, per pixel, the index it must write and
optionally a second index it may write instead, and picks whichever lets the current LZW string
grow longer (a greedy parse that treats those pixels as wildcards). With no alternatives it is a
plain GIF LZW encoder: variable code width from ``code_bits + 1`` to 12 bits. When the 4096-entry
table is full it clears it, keeps using it, or (gifsicle's way) keeps it until strings get short.
"""

from __future__ import annotations

import numpy as np

from ...numba_jit import njit

MAX_CODES = 4096
NO_ALTERNATIVE = -1


def lzw_compress(
    symbols: np.ndarray,
    alternatives: np.ndarray | None,
    code_bits: int,
    prefer_alternative: bool = False,
    clear_when_full: bool = True,
    adaptive_clear: bool = False,
) -> bytes:
    """Return the packed LZW code stream (no sub-block framing) of ``symbols`` (uint8, 1-D).

    ``alternatives`` (int16, same length, -1 where there is none) are indices that may be written
    instead; ``prefer_alternative`` breaks ties toward them. ``code_bits`` is GIF's minimum code
    size (2..8) and must cover every symbol and alternative. When the table is full, either clear
    it (``clear_when_full``) or keep using it unchanged (a "deferred clear", valid GIF). With
    ``adaptive_clear``, a full table is kept while strings stay long and cleared once they get
    short for the pixels left, the clear moved back to where a short string began (what
    gifsicle does).
    """
    symbols = np.ascontiguousarray(symbols, dtype=np.uint8).reshape(-1)
    if not len(symbols):
        raise ValueError("an image needs at least one pixel")
    if alternatives is None:
        alternatives = np.full(len(symbols), NO_ALTERNATIVE, dtype=np.int16)
    alternatives = np.ascontiguousarray(alternatives, dtype=np.int16).reshape(-1)
    # Worst case: one 12-bit code per pixel plus a clear code every ~4000 codes, and the ends.
    out = np.zeros((len(symbols) + len(symbols) // 1000 + 8) * 2, dtype=np.uint8)
    table = np.zeros(MAX_CODES << code_bits, dtype=np.int16)
    used = np.zeros(MAX_CODES, dtype=np.int32)
    policy = (clear_when_full, adaptive_clear)
    size = _compress(symbols, alternatives, code_bits, prefer_alternative, *policy, table, used, out)
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
def _walk(table, symbols, alternatives, start, position, alphabet_bits, prefer_alternative, path):  # pragma: no cover
    """Follow the longest string from ``start`` (the index at ``position``); fill ``path`` with the code
    of each prefix and return its length."""
    n = len(symbols)
    code = start
    length = 1
    path[0] = code
    while position + length < n and length < len(path):
        i = position + length
        child = np.int64(table[(code << alphabet_bits) + symbols[i]])
        a = alternatives[i]
        if a >= 0:
            other = np.int64(table[(code << alphabet_bits) + a])
            if other != 0:
                if child == 0:
                    child = other
                else:  # both continue the string: take the one that goes further
                    reach_s = _extend_length(table, symbols, alternatives, child, i + 1, alphabet_bits, 16)
                    reach_a = _extend_length(table, symbols, alternatives, other, i + 1, alphabet_bits, 16)
                    if reach_a > reach_s or (reach_a == reach_s and prefer_alternative):
                        child = other
        if child == 0:
            break
        code = child
        path[length] = code
        length += 1
    return length


@njit(cache=True, nogil=True)
def _emit_clear(out, size, bits, nbits, clear, table, used, nused):  # pragma: no cover
    """Write a clear code (at 12 bits: the table is full) and empty the table; return (size, bits, nbits)."""
    bits |= np.int64(clear) << nbits
    nbits += 12
    while nbits >= 8:
        out[size] = bits & 255
        size += 1
        bits >>= 8
        nbits -= 8
    for k in range(nused):
        table[used[k]] = 0
    return size, bits, nbits


@njit(cache=True, nogil=True)
def _compress(  # pragma: no cover
    symbols, alternatives, code_bits, prefer_alternative, clear_when_full, adaptive_clear, table, used, out
):
    """Write the LZW code stream into ``out``; return the number of bytes used."""
    clear = 1 << code_bits
    first_free = clear + 2
    path = np.zeros(4096, dtype=np.int64)
    bits = np.int64(clear)  # bit buffer, starting with the clear code
    nbits = code_bits + 1
    size = 0
    next_code = first_free
    nused = 0
    n = len(symbols)
    i = 0
    start = np.int64(alternatives[0] if alternatives[0] >= 0 and prefer_alternative else symbols[0])
    done = False
    average = 1.0  # moving average of string lengths (adaptive clear)
    mark_i = -1  # adaptive clear: where a short string began since the table filled, and the output then
    mark_size = 0
    mark_bits = np.int64(0)
    mark_nbits = 0
    while not done:
        before_i, before_size, before_bits, before_nbits = i, size, bits, nbits
        length = _walk(table, symbols, alternatives, start, i, code_bits, prefer_alternative, path)
        done = i + length >= n
        code = path[length - 1]
        width = code_bits + 1
        while (1 << width) <= next_code - 1 and width < 12:
            width += 1
        bits |= code << nbits
        nbits += width
        while nbits >= 8:
            out[size] = bits & 255
            size += 1
            bits >>= 8
            nbits -= 8
        if done:
            if next_code < 4096:
                next_code += 1  # the decoder adds an entry on reading the last string
            break
        i += length
        # the next string's first index; a wildcard takes the one that reaches further
        reach_s = 1 + _extend_length(table, symbols, alternatives, np.int64(symbols[i]), i + 1, code_bits, 64)
        start = np.int64(symbols[i])
        a = np.int64(alternatives[i])
        if a >= 0:
            reach_a = 1 + _extend_length(table, symbols, alternatives, a, i + 1, code_bits, 64)
            if reach_a > reach_s or (reach_a == reach_s and prefer_alternative):
                start = a
        if next_code < 4096:
            slot = (code << code_bits) + start
            table[slot] = next_code
            used[nused] = slot
            nused += 1
            next_code += 1
        elif adaptive_clear:
            left = n - i
            short = average < 36.0 / code_bits or average * 3000.0 < left
            if (short or length < 7) and mark_i < 0:
                mark_i, mark_size, mark_bits, mark_nbits = before_i, before_size, before_bits, before_nbits
            elif not short and length > 50:
                mark_i = -1
            if short:  # rewind to the mark, clear there and start over
                i, size, bits, nbits = mark_i, mark_size, mark_bits, mark_nbits
                mark_i = -1
                average = 1.0
                size, bits, nbits = _emit_clear(out, size, bits, nbits, clear, table, used, nused)
                nused = 0
                next_code = first_free
                start = np.int64(symbols[i])
                a = np.int64(alternatives[i])
                if a >= 0 and prefer_alternative:
                    start = a
                continue
        elif clear_when_full:
            size, bits, nbits = _emit_clear(out, size, bits, nbits, clear, table, used, nused)  # and start over
            nused = 0
            next_code = first_free
        average += (length - average) / 16.0
    # end of information
    width = code_bits + 1
    while (1 << width) <= next_code - 1 and width < 12:
        width += 1
    bits |= np.int64(clear + 1) << nbits
    nbits += width
    while nbits > 0:
        out[size] = bits & 255
        size += 1
        bits >>= 8
        nbits -= 8
    return size


def sub_blocks(data: bytes) -> bytes:
    """Return ``data`` cut into GIF data sub-blocks (length byte + up to 255 bytes), unterminated."""
    return b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
