"""The storyboard: the keyframes of a morph (prompt or image, seed, locked) and the edits the page offers.

Pure functions over lists of `Keyframe`; the page keeps a fixed number of slots and shows the
first ``len(board)``. No gradio here.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from ..morph.config import MAX_SEED, MorphConfig

MIN_KEYFRAMES = 2  # a morph needs two prompts
MAX_KEYFRAMES = 8  # slots on the page
REROLL_RANGE = 2**32  # re-rolled seeds stay short enough to read and type


@dataclass
class Keyframe:
    """One keyframe: its prompt, its seed, whether re-rolling leaves the seed alone, and an image
    (a path): with an image the keyframe is that picture and the prompt is its optional caption."""

    prompt: str = ""
    seed: int = 0
    locked: bool = False
    image: str | None = None


def initial_board(count: int = MIN_KEYFRAMES) -> list[Keyframe]:
    """Return ``count`` empty keyframes seeded like the CLI: MorphConfig's seed + index."""
    base = MorphConfig.seed  # a dataclass keeps a field's plain default as the class attribute
    return [Keyframe(seed=base + i) for i in range(count)]


def add_keyframe(board: list[Keyframe]) -> list[Keyframe]:
    """Return ``board`` with an empty keyframe appended (seed: one more than the largest)."""
    if len(board) >= MAX_KEYFRAMES:
        raise ValueError(f"the storyboard holds at most {MAX_KEYFRAMES} keyframes")
    seed = min(max((k.seed for k in board), default=-1) + 1, MAX_SEED)
    return [*board, Keyframe(seed=seed)]


def remove_keyframe(board: list[Keyframe], index: int) -> list[Keyframe]:
    """Return ``board`` without keyframe ``index``."""
    if len(board) <= MIN_KEYFRAMES:
        raise ValueError(f"a morph needs at least {MIN_KEYFRAMES} keyframes")
    _check_index(board, index)
    return board[:index] + board[index + 1 :]


def move_keyframe(board: list[Keyframe], index: int, offset: int) -> list[Keyframe]:
    """Return ``board`` with keyframe ``index`` moved by ``offset`` places (clamped to the ends)."""
    _check_index(board, index)
    target = max(0, min(len(board) - 1, index + offset))
    board = list(board)
    board.insert(target, board.pop(index))
    return board


def reroll(board: list[Keyframe], index: int | None = None, rng: random.Random | None = None) -> list[Keyframe]:
    """Return ``board`` with new random seeds for every unlocked keyframe, or only for ``index``."""
    rng = rng or random.Random()
    if index is not None:
        _check_index(board, index)
    return [
        dataclasses.replace(k, seed=rng.randrange(REROLL_RANGE)) if not k.locked and index in (None, i) else k
        for i, k in enumerate(board)
    ]


def _check_index(board: list[Keyframe], index: int) -> None:
    if not 0 <= index < len(board):
        raise ValueError(f"no keyframe {index + 1}; the storyboard has {len(board)}")
