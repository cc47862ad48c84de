"""Even spacing: place a morph's frames so that every step changes the picture by the same amount.

Linear steps in text/noise space are not linear steps in what the eye sees: a morph often idles
for many frames and then flips in one or two. Per segment (keyframe to keyframe) this module

1. renders a coarse pass at a few evenly spaced t values (the keyframes are rendered once and
   shared by the two segments that meet there, so seams stay exact);
2. measures the distance between neighbouring samples and re-places the frames so that the
   cumulative distance is split evenly (piecewise-linear inverse of the monotone cumulative
   curve; with an easing the split follows the easing instead), reusing a coarse frame wherever
   one already sits close enough to a target;
3. refines where a gap stays large (at most ``passes`` more rounds, within the render budget);
4. picks, among ALL rendered samples, the frames whose consecutive distances are most even
   (dynamic programming: minimal sum of squared steps, each weighted by its easing share).

Every round is one call of ``render`` with all the t values of all segments, so the backend
still renders in full batches. No torch here: ``render`` and ``features`` are callables.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .interpolate import FramePlan, get_easing
from .quality import oklab_distance, oklab_frames

MAX_RENDER_RATIO = 1.5  # renders of even spacing <= this x the renders of linear spacing
REFINE_PASSES = 2
SNAP = 0.3  # a sample within this fraction of a step from a target is reused instead of rendering
LARGE_GAP = 1.35  # a neighbour-to-neighbour gap above this x the target step is refined

RenderFn = Callable[[list[FramePlan]], list[Any]]
FeaturesFn = Callable[[list[Any]], list[np.ndarray]]


@dataclass
class Sample:
    """One rendered frame of a segment: where it sits (t), what the backend made, what is measured."""

    t: float
    image: Any
    features: np.ndarray


@dataclass
class SpacedFrames:
    """The result of even spacing: the final frame plan, their images, and how many frames were rendered."""

    plan: list[FramePlan]
    images: list[Any]
    renders: int


def render_budget(linear_renders: int, ratio: float = MAX_RENDER_RATIO) -> int:
    """Return the most frames even spacing may render for a morph that linear spacing renders in ``linear_renders``."""
    return int(math.floor(linear_renders * ratio + 1e-9))


def easing_weights(frames: int, easing: str) -> np.ndarray:
    """Return the share of the segment's change each of its ``frames`` steps should carry (sums to 1)."""
    ease = get_easing(easing)
    marks = np.array([ease(j / frames) for j in range(frames + 1)], dtype=np.float64)
    return np.maximum(np.diff(marks), 1e-6)


def even_frames(
    num_keyframes: int,
    frames: int,
    loop: bool,
    easing: str,
    render: RenderFn,
    features: FeaturesFn,
    ratio: float = MAX_RENDER_RATIO,
    passes: int = REFINE_PASSES,
) -> SpacedFrames:
    """Return evenly spaced frames for a morph through ``num_keyframes`` keyframes (see the module doc).

    ``render(plans)`` returns one image per `FramePlan` (start, end, t); ``features(images)``
    returns for each image an array compared with `oklab_distance`. The frame count and the
    keyframe positions are those of linear spacing: ``frames`` per segment, start keyframe first.
    """
    if num_keyframes < 2 or frames < 1:
        raise ValueError("even spacing needs at least 2 keyframes and 1 frame per transition")
    num_segments = num_keyframes if loop else num_keyframes - 1
    linear_renders = num_segments * frames + (0 if loop else 1)
    per_segment = (render_budget(linear_renders, ratio) - num_keyframes) // num_segments
    weights = easing_weights(frames, easing)
    coarse = min(max(1, frames // 3), max(0, per_segment - (frames - 1)))

    # 1. Keyframes (each once) and the coarse pass, in one render call.
    keys = [FramePlan(-1, k, k, 0.0) for k in range(num_keyframes)]
    ends = [(s, (s + 1) % num_keyframes) for s in range(num_segments)]
    wanted = keys + [FramePlan(-1, a, b, j / (coarse + 1)) for a, b in ends for j in range(1, coarse + 1)]
    images = render(wanted)
    feats = features(images)
    key_samples = [Sample(0.0, images[k], feats[k]) for k in range(num_keyframes)]
    segments = [[key_samples[a], key_samples[b]] for a, b in ends]
    for offset, plan in enumerate(wanted[num_keyframes:], num_keyframes):
        _insert(segments[plan.start], Sample(plan.t, images[offset], feats[offset]))
    renders = len(wanted)
    # The end keyframe sits at t = 1 of its segment (the same image as t = 0 of the next one).
    segments = [[s[0]] + s[1:-1] + [dataclasses.replace(s[-1], t=1.0)] for s in segments]

    # 2. Targets from the coarse curve, then 3. refinement where gaps stay large.
    for round_number in range(1 + passes):
        budget = [per_segment - (len(s) - 2) for s in segments]
        asks = [
            _next_samples(s, weights, budget[i], must_fill=(round_number == 0), refine=(round_number > 0))
            for i, s in enumerate(segments)
        ]
        wanted = [FramePlan(-1, ends[i][0], ends[i][1], t) for i, ts in enumerate(asks) for t in ts]
        if not wanted:
            break
        images = render(wanted)
        feats = features(images)
        renders += len(wanted)
        for plan, image, feat in zip(wanted, images, feats):
            _insert(segments[plan.start], Sample(plan.t, image, feat))

    # 4. The most even choice among everything rendered.
    plan, out = [], []
    for (a, b), samples in zip(ends, segments):
        for index in select_even(_distance_matrix(samples), frames, weights)[:-1]:
            plan.append(FramePlan(len(plan), a, b, samples[index].t))
            out.append(samples[index].image)
    if not loop:
        last = num_keyframes - 1
        plan.append(FramePlan(len(plan), last, last, 0.0))
        out.append(key_samples[last].image)
    return SpacedFrames(plan, out, renders)


def _insert(samples: list[Sample], sample: Sample) -> None:
    """Insert ``sample`` into ``samples`` (sorted by t, end keyframe last) keeping the order."""
    ts = [s.t for s in samples[:-1]]
    samples.insert(int(np.searchsorted(ts, sample.t)), sample)


def cumulative_distance(samples: Sequence[Sample]) -> np.ndarray:
    """Return the cumulative neighbour-to-neighbour distance along ``samples`` (starts at 0)."""
    steps = [oklab_distance(a.features, b.features) for a, b in zip(samples, samples[1:])]
    return np.concatenate([[0.0], np.cumsum(steps)])


def place_targets(ts: np.ndarray, cumulative: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the interior t values that split ``cumulative`` (monotone, over ``ts``) by ``weights``.

    The inverse of the cumulative curve is piecewise linear; flat stretches (no change) are
    skipped by a tiny ramp in t, so a target never lands in the middle of nothing.
    """
    total = cumulative[-1]
    if total <= 0:
        marks = np.cumsum(weights)[:-1]
        return np.interp(marks, [0.0, 1.0], [ts[0], ts[-1]])
    ramp = cumulative + 1e-9 * total * (ts - ts[0]) / max(ts[-1] - ts[0], 1e-12)
    marks = np.cumsum(weights)[:-1] * ramp[-1]
    return np.interp(marks, ramp, ts)


def _next_samples(samples: list[Sample], weights: np.ndarray, budget: int, must_fill: bool, refine: bool) -> list[float]:
    """Return the t values to render next in one segment (at most ``budget``; enough for a full segment when ``must_fill``)."""
    ts = np.array([s.t for s in samples])
    cumulative = cumulative_distance(samples)
    targets = place_targets(ts, cumulative, weights)
    step = np.maximum(weights[:-1] * cumulative[-1], 1e-12)  # the change each target stands for
    free = np.ones(len(ts), dtype=bool)
    free[[0, -1]] = False
    wanted: list[tuple[float, float]] = []  # (priority, t)
    for target_t, mark, size in zip(targets, np.cumsum(weights)[:-1] * cumulative[-1], step):
        nearest = int(np.argmin(np.where(free, np.abs(cumulative - mark), np.inf)))
        if free[nearest] and abs(cumulative[nearest] - mark) <= SNAP * size:
            free[nearest] = False  # reuse it: one sample serves one target only
            continue
        gap_index = int(np.clip(np.searchsorted(ts, target_t) - 1, 0, len(ts) - 2))
        gap = (cumulative[gap_index + 1] - cumulative[gap_index]) / size
        if refine and gap <= LARGE_GAP:
            continue
        if np.min(np.abs(ts - target_t)) > 1e-6:
            wanted.append((gap, float(target_t)))
    interior = len(ts) - 2
    needed = max(0, len(weights) - 1 - interior) if must_fill else 0
    wanted.sort(key=lambda pair: -pair[0])  # biggest gaps first
    chosen = [t for _, t in wanted[: max(budget, needed)]]
    chosen += _fillers(ts, chosen, needed - len(chosen))
    return sorted(chosen)


def _fillers(ts: np.ndarray, chosen: list[float], count: int) -> list[float]:
    """Return ``count`` extra t values that halve the widest t intervals (so a segment can always be filled)."""
    points = sorted(set(ts.tolist()) | set(chosen))
    extra: list[float] = []
    for _ in range(max(0, count)):
        gaps = np.diff(points)
        widest = int(np.argmax(gaps))
        middle = (points[widest] + points[widest + 1]) / 2
        extra.append(middle)
        points.insert(widest + 1, middle)
    return extra


def _distance_matrix(samples: Sequence[Sample]) -> np.ndarray:
    """Return the (S, S) matrix of distances between every two samples (upper triangle filled)."""
    count = len(samples)
    matrix = np.zeros((count, count))
    for i in range(count):
        for j in range(i + 1, count):
            matrix[i, j] = oklab_distance(samples[i].features, samples[j].features)
    return matrix


def select_even(distances: np.ndarray, steps: int, weights: np.ndarray) -> list[int]:
    """Return ``steps + 1`` increasing sample indices from 0 to S-1 whose steps are the most even.

    Minimises sum(d_j ** 2 / w_j) over the chosen steps j: for a fixed total change this is
    smallest when each step's change d_j is proportional to its easing share w_j.
    """
    count = len(distances)
    if count < steps + 1:
        raise ValueError(f"need at least {steps + 1} samples to choose {steps} steps, got {count}")
    squared = distances**2
    cost = np.full(count, np.inf)
    cost[0] = 0.0
    back = np.zeros((steps + 1, count), dtype=np.intp)
    for j in range(1, steps + 1):
        # total[p, i]: best cost of ending step j at sample i coming from sample p < i.
        total = cost[:, None] + squared / weights[j - 1]
        total[np.tril_indices(count)] = np.inf
        back[j] = np.argmin(total, axis=0)
        cost = total[back[j], np.arange(count)]
    chosen = [count - 1]
    for j in range(steps, 0, -1):
        chosen.append(int(back[j][chosen[-1]]))
    return chosen[::-1]


class ViewerFeatures:
    """Measure frames as the viewer will see them: pixelated on one palette, in OKLab.

    The palette of the final GIF is fitted on the final frames, which are not known yet during
    the coarse pass. So the palette is fitted once, on the first batch (keyframes and coarse
    frames, which span the morph's colours), and every later frame is mapped onto that same
    palette: distances from different passes stay comparable, and palette quantisation and
    dithering (the jumps a viewer actually sees) are part of the measurement.
    """

    def __init__(self, pixelate_config):
        self.config = pixelate_config
        self.fixed = None

    def __call__(self, images: list[Any]) -> list[np.ndarray]:
        """Return one OKLab array per image (pixel-art size, transparency on white)."""
        from .pixelate import pixelate_frames

        if self.fixed is None:
            art = pixelate_frames(images, self.config)
            palette = art.palette if art.transparent_index is None else np.delete(art.palette, art.transparent_index, 0)
            self.fixed = dataclasses.replace(self.config, palette=np.asarray(palette), colors=None)
        return list(oklab_frames(pixelate_frames(images, self.fixed).images))
