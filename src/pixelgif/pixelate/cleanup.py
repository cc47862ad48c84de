"""Clean-up on palette indices: remove isolated pixels, add a dark outline around the subject."""

from __future__ import annotations

import numpy as np

_NEIGHBOURS_8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
_NEIGHBOURS_4 = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def _shifted(indices: np.ndarray, offsets) -> np.ndarray:
    """Return (len(offsets), N, h, w) neighbour values; -1 where the neighbour is off the image."""
    padded = np.pad(indices.astype(np.int32), ((0, 0), (1, 1), (1, 1)), constant_values=-1)
    h, w = indices.shape[1:]
    return np.stack([padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets])


def remove_orphans(indices: np.ndarray) -> np.ndarray:
    """Return ``indices`` (N, h, w) with each pixel unlike all 8 neighbours set to their most common value."""
    neighbours = _shifted(indices, _NEIGHBOURS_8)
    orphan = (neighbours != indices[None]).all(axis=0)
    valid = neighbours >= 0
    # How often each neighbour's value occurs among the valid neighbours; the best one wins.
    votes = ((neighbours[:, None] == neighbours[None, :]) & valid[None]).sum(axis=1)
    votes = np.where(valid, votes, -1)
    winner = np.take_along_axis(neighbours, votes.argmax(axis=0)[None], axis=0)[0]
    return np.where(orphan, winner, indices).astype(indices.dtype)


def add_outline(indices: np.ndarray, transparent_index: int, outline_index: int) -> np.ndarray:
    """Return ``indices`` with transparent pixels that touch the subject (4-neighbours) set to the outline colour."""
    neighbours = _shifted(indices, _NEIGHBOURS_4)
    touches_subject = ((neighbours >= 0) & (neighbours != transparent_index)).any(axis=0)
    edge = (indices == transparent_index) & touches_subject
    return np.where(edge, outline_index, indices).astype(indices.dtype)
