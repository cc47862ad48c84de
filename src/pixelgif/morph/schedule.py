"""The frame schedule: where each output frame sits between two keyframes, and easing. No torch.

The schedule is what makes joins seamless: each keyframe owns ONE latent and ONE text embedding,
shared by the segment that ends on it and the segment that starts from it, and every segment
counts its start keyframe but not its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


def ease_linear(t: float) -> float:
    """Return ``t`` unchanged."""
    return t


def ease_in_out(t: float) -> float:
    """Return the cosine ease of ``t``: slow near both keyframes, fast in between; 0->0, 1->1."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * t)


EASING_FUNCTIONS: dict[str, Callable[[float], float]] = {"linear": ease_linear, "ease-in-out": ease_in_out}
EASINGS = tuple(EASING_FUNCTIONS)


def get_easing(name: str) -> Callable[[float], float]:
    """Return the easing function called ``name``."""
    try:
        return EASING_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown easing {name!r}; choose one of: {', '.join(EASINGS)}") from None


@dataclass(frozen=True)
class FramePlan:
    """Where one output frame sits: between keyframes ``start`` and ``end`` at eased weight ``t``."""

    index: int
    start: int
    end: int
    t: float

    @property
    def is_keyframe(self) -> bool:
        """Return True when this frame is exactly keyframe ``start``."""
        return self.t == 0.0


def num_frames(num_keyframes: int, frames_per_transition: int, loop: bool = False) -> int:
    """Return the frame count: ``(K - 1) * N + 1``, or ``K * N`` when the morph loops."""
    if loop:
        return num_keyframes * frames_per_transition
    return (num_keyframes - 1) * frames_per_transition + 1


def segment_pairs(num_keyframes: int, loop: bool = False) -> list[tuple[int, int]]:
    """Return each segment's (start, end) keyframe indices, in order; with ``loop`` the last runs back to 0."""
    count = num_keyframes if loop else num_keyframes - 1
    return [(segment, (segment + 1) % num_keyframes) for segment in range(count)]


def frame_schedule(
    num_keyframes: int, frames_per_transition: int, loop: bool = False, easing: str = "linear"
) -> list[FramePlan]:
    """Return one `FramePlan` per output frame, in order.

    Each segment has ``frames_per_transition`` frames starting at its own keyframe (t = 0 exactly)
    and stopping one step short of the next; without ``loop`` a last frame shows the last
    keyframe. With ``loop`` the last segment runs back to keyframe 0, which is not repeated.
    """
    if num_keyframes < 2:
        raise ValueError(f"a morph needs at least 2 keyframes, got {num_keyframes}")
    if frames_per_transition < 1:
        raise ValueError(f"frames per transition must be at least 1, got {frames_per_transition}")
    ease = get_easing(easing)
    plan: list[FramePlan] = []
    for segment, end in segment_pairs(num_keyframes, loop):
        for step in range(frames_per_transition):
            t = ease(step / frames_per_transition)
            plan.append(FramePlan(len(plan), segment, end, float(t)))
    if not loop:
        last = num_keyframes - 1
        plan.append(FramePlan(len(plan), last, last, 0.0))
    return plan


def keyframe_indices(plan: list[FramePlan]) -> list[int]:
    """Return the indices of the frames that are exactly a keyframe."""
    return [frame.index for frame in plan if frame.is_keyframe]
