"""Even spacing: place a morph's frames so that every step changes the picture by the same amount.

Linear steps in text/noise space are not linear steps in what the eye sees: a morph often idles
for many frames and then flips in one or two. Per segment (keyframe to keyframe) this module

1. renders a coarse pass at a few evenly spaced t values (the keyframes are rendered once and
   shared by the two segments that meet there, so seams stay exact);
2. measures the distance between neighbouring samples and re-places the frames so that the
   cumulative distance is split evenly (piecewise-linear inverse of the monotone cumulative
   curve; with an easing the split follows the easing instead), reusing a coarse frame wherever
   one already sits close enough to a target;
3. where one interval holds many targets (a jump), first renders only a few of them to find
   where the change sits, re-places, then renders the rest; then refines where a gap stays large
   (at most ``passes`` more rounds, within the render budget);
4. picks, among ALL rendered samples, the frames whose consecutive distances are most even
   (dynamic programming: minimal sum of squared steps, each weighted by its easing share), and
   checks that choice under the palette that will be fitted on it (re-choosing a few times).

Every round is one call of ``render`` with all the t values of all segments, so the backend
still renders in full batches. The model is reached only through the ``render`` and ``features``
callables, so the algorithm runs as well on a synthetic renderer (see tests/test_spacing.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .quality import oklab_distance, oklab_frames
from .schedule import FramePlan, get_easing, segment_pairs

MAX_RENDER_RATIO = 1.5  # renders of even spacing <= this x the renders of linear spacing
REFINE_PASSES = 2
COARSE_DIVISOR = 3  # the coarse pass renders frames // this per segment
REFIT_ROUNDS = 3  # re-choices under the palette of the choice itself
LOCALIZE = 3  # first look at a steep interval with this many frames before filling it
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
    return math.floor(linear_renders * ratio + 1e-9)


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
    ends = segment_pairs(num_keyframes, loop)
    num_segments = len(ends)
    linear_renders = num_segments * frames + (0 if loop else 1)
    per_segment = (render_budget(linear_renders, ratio) - num_keyframes) // num_segments
    weights = easing_weights(frames, easing)
    coarse = min(max(1, frames // COARSE_DIVISOR), max(0, per_segment - (frames - 1)))

    # 1. Keyframes (each once) and the coarse pass, in one render call.
    keys = [FramePlan(-1, k, k, 0.0) for k in range(num_keyframes)]
    wanted = keys + [FramePlan(-1, a, b, j / (coarse + 1)) for a, b in ends for j in range(1, coarse + 1)]
    images = render(wanted)
    feats = features(images)
    key_samples = [Sample(0.0, images[k], feats[k]) for k in range(num_keyframes)]
    segments = [[key_samples[a], key_samples[b]] for a, b in ends]
    for offset, frame in enumerate(wanted[num_keyframes:], num_keyframes):
        _insert(segments[frame.start], Sample(frame.t, images[offset], feats[offset]))
    renders = len(wanted)
    # The end keyframe sits at t = 1 of its segment (the same image as t = 0 of the next one).
    segments = [[s[0], *s[1:-1], dataclasses.replace(s[-1], t=1.0)] for s in segments]

    # 2. Targets from the coarse curve (first only a few per interval, to find where a jump sits,
    #    then all of them), then 3. refinement where gaps stay large.
    for stage in ("localize", "fill") + ("refine",) * passes:
        budget = [per_segment - (len(s) - 2) for s in segments]
        if stage == "refine":
            choice = _choose(segments, frames, weights, features, loop)
            asks = [_refine(s, c, weights, budget[i]) for i, (s, c) in enumerate(zip(segments, choice, strict=True))]
        else:
            asks = [_next_samples(s, weights, budget[i], stage) for i, s in enumerate(segments)]
        wanted = [FramePlan(-1, ends[i][0], ends[i][1], t) for i, ts in enumerate(asks) for t in ts]
        if not wanted:
            if stage == "refine":
                break  # every step is fine: nothing left to refine
            continue
        images = render(wanted)
        feats = features(images)
        renders += len(wanted)
        for frame, image, feat in zip(wanted, images, feats, strict=True):
            _insert(segments[frame.start], Sample(frame.t, image, feat))

    # 4. The most even choice among everything rendered, measured with the final palette.
    choice = _choose(segments, frames, weights, features, loop)
    plan: list[FramePlan] = []
    out: list[Any] = []
    for (a, b), samples, indices in zip(ends, segments, choice, strict=True):
        for index in indices[:-1]:
            plan.append(FramePlan(len(plan), a, b, samples[index].t))
            out.append(samples[index].image)
    if not loop:
        last = num_keyframes - 1
        plan.append(FramePlan(len(plan), last, last, 0.0))
        out.append(key_samples[last].image)
    return SpacedFrames(plan, out, renders)


def _choose(segments: list[list[Sample]], frames: int, weights: np.ndarray, features, loop: bool) -> list[list[int]]:
    """Return per segment the indices of the chosen samples (ends included).

    When ``features`` can ``refit`` (its palette on the frames that will be shown), the choice is
    measured again under the palette fitted on that very choice, chosen again, and so on a few
    times; the choice whose own palette makes it the most even wins, and the samples are left
    measured under its palette.
    """
    choice = [select_even(_distance_matrix(s), frames, weights) for s in segments]
    if not hasattr(features, "refit"):
        return choice
    scored: list[tuple[float, list[list[int]]]] = []
    for _ in range(REFIT_ROUNDS):
        _measure_with_palette_of(choice, segments, features, loop)
        scored.append((sum(_unevenness(s, c, weights) for s, c in zip(segments, choice, strict=True)), choice))
        again = [select_even(_distance_matrix(s), frames, weights) for s in segments]
        if again == choice:
            break
        choice = again
    best = min(scored, key=lambda pair: pair[0])[1]
    if best is not choice or len(scored) == REFIT_ROUNDS:
        _measure_with_palette_of(best, segments, features, loop)
    return best


def _measure_with_palette_of(choice: list[list[int]], segments: list[list[Sample]], features, loop: bool) -> None:
    """Refit ``features`` on the frames ``choice`` shows (as the pipeline will) and measure every sample with it."""
    shown = [s[i].image for s, indices in zip(segments, choice, strict=True) for i in indices[:-1]]
    if not loop:
        shown.append(segments[-1][-1].image)  # the last keyframe closes a morph that does not loop
    features.refit(shown)
    for samples in segments:
        for sample, feat in zip(samples, features([s.image for s in samples]), strict=True):
            sample.features = feat


def _unevenness(samples: list[Sample], indices: list[int], weights: np.ndarray) -> float:
    """Return sum(d_j^2 / w_j) / (sum d_j)^2 over the chosen steps: 1 when each step is its share, more when not."""
    steps = np.array([oklab_distance(samples[a].features, samples[b].features) for a, b in itertools.pairwise(indices)])
    total = steps.sum()
    return float((steps**2 / weights).sum() / total**2) if total > 0 else 1.0


def _insert(samples: list[Sample], sample: Sample) -> None:
    """Insert ``sample`` into ``samples`` (sorted by t, end keyframe last) keeping the order."""
    ts = [s.t for s in samples[:-1]]
    samples.insert(int(np.searchsorted(ts, sample.t)), sample)


def cumulative_distance(samples: Sequence[Sample]) -> np.ndarray:
    """Return the cumulative neighbour-to-neighbour distance along ``samples`` (starts at 0)."""
    steps = [oklab_distance(a.features, b.features) for a, b in itertools.pairwise(samples)]
    return np.concatenate([[0.0], np.cumsum(steps)])


def place_targets(ts: np.ndarray, cumulative: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the interior t values that split ``cumulative`` (monotone, over ``ts``) by ``weights``.

    The cumulative curve is interpolated with PCHIP, which stays monotone and follows its shape
    (a change that speeds up towards a sample is placed late in the interval before it, not spread
    evenly over it), and inverted numerically. Flat stretches (no change) get a tiny ramp in t, so
    a target never lands in the middle of nothing.
    """
    total = cumulative[-1]
    marks = np.cumsum(weights)[:-1]
    if total <= 0:
        return ts[0] + marks * (ts[-1] - ts[0])
    dense = np.linspace(ts[0], ts[-1], 64 * len(ts) + 1)
    curve = np.maximum.accumulate(pchip(ts, cumulative, dense))
    curve = curve + 1e-9 * total * (dense - ts[0]) / max(ts[-1] - ts[0], 1e-12)
    return np.interp(marks * curve[-1], curve, dense)


def pchip(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Return the PCHIP interpolant of the points (``x``, ``y``) (``x`` increasing) evaluated at ``at``.

    The same curve as scipy's `PchipInterpolator` (Fritsch-Carlson slopes: a weighted harmonic
    mean inside, zero at a local extremum, scipy's one-sided three-point rule at the ends; a test
    compares the two), written out because ``import scipy.interpolate`` loads scipy.optimize,
    scipy.special and more: most of a second of a cold morph for a dozen lines of arithmetic.
    """
    x, y, at = (np.asarray(a, dtype=np.float64) for a in (x, y, at))
    h = np.diff(x)
    m = np.diff(y) / h
    if len(x) == 2:
        d = np.array([m[0], m[0]])
    else:
        d = np.zeros_like(y)
        w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
        same = (np.sign(m[1:]) * np.sign(m[:-1])) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = (w1 + w2) / (w1 / m[:-1] + w2 / m[1:])
        d[1:-1] = np.where(same, inner, 0.0)
        d[0] = _pchip_end(h[0], h[1], m[0], m[1])
        d[-1] = _pchip_end(h[-1], h[-2], m[-1], m[-2])
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(h) - 1)
    s = (at - x[k]) / h[k]
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * y[k] + h10 * h[k] * d[k] + h01 * y[k + 1] + h11 * h[k] * d[k + 1]


def _pchip_end(h0: float, h1: float, m0: float, m1: float) -> float:
    """Return PCHIP's slope at an end point (the interval next to it: width h0, slope m0; then h1, m1)."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return d


def _next_samples(samples: list[Sample], weights: np.ndarray, budget: int, stage: str) -> list[float]:
    """Return the t values to render next in one segment, at most ``budget`` (except to fill the segment).

    ``stage`` "localize": at most `LOCALIZE` targets per sample interval; "fill": every target not
    served by a nearby sample, and enough to fill the segment.
    """
    ts = np.array([s.t for s in samples])
    cumulative = cumulative_distance(samples)
    targets = place_targets(ts, cumulative, weights)
    if cumulative[-1] <= 0:
        cumulative = ts - ts[0]  # nothing changes at all: even steps in t are as good as any
    marks = np.cumsum(weights)[:-1] * cumulative[-1]
    step = np.maximum(weights[:-1] * cumulative[-1], 1e-12)  # the change each target stands for
    free = np.ones(len(ts), dtype=bool)
    free[[0, -1]] = False
    wanted: dict[int, list[tuple[float, float]]] = {}  # interval -> [(gap in steps, t)]
    for target_t, mark, size in zip(targets, marks, step, strict=True):
        nearest = int(np.argmin(np.where(free, np.abs(cumulative - mark), np.inf)))
        if free[nearest] and abs(cumulative[nearest] - mark) <= SNAP * size:
            free[nearest] = False  # reuse it: one sample serves one target only
            continue
        interval = int(np.clip(np.searchsorted(ts, target_t) - 1, 0, len(ts) - 2))
        gap = (cumulative[interval + 1] - cumulative[interval]) / size
        if np.min(np.abs(ts - target_t)) <= 1e-6:
            continue
        wanted.setdefault(interval, []).append((gap, float(target_t)))
    if stage == "localize":
        wanted = {i: _spread(ask, LOCALIZE) for i, ask in wanted.items() if len(ask) > LOCALIZE}
    ranked = sorted((pair for ask in wanted.values() for pair in ask), key=lambda pair: -pair[0])
    needed = max(0, len(weights) - 1 - (len(ts) - 2)) if stage == "fill" else 0
    chosen = [t for _, t in ranked[: max(budget, needed)]]
    chosen += _fillers(ts, chosen, needed - len(chosen))
    return sorted(chosen)


def _refine(samples: list[Sample], indices: list[int], weights: np.ndarray, budget: int) -> list[float]:
    """Return t values that split the chosen steps still larger than `LARGE_GAP` x their share (at most ``budget``).

    Within such a step the widest-changing neighbour interval is halved in t.
    """
    steps = np.array([oklab_distance(samples[a].features, samples[b].features) for a, b in itertools.pairwise(indices)])
    if budget <= 0 or steps.sum() <= 0:
        return []
    ratio = steps / (weights * steps.sum())
    asks: list[float] = []
    for j in np.argsort(-ratio, kind="stable"):
        if ratio[j] <= LARGE_GAP or len(asks) >= budget:
            break
        a, b = indices[j], indices[j + 1]
        gaps = [oklab_distance(samples[k].features, samples[k + 1].features) for k in range(a, b)]
        k = a + int(np.argmax(gaps))
        middle = (samples[k].t + samples[k + 1].t) / 2
        if samples[k + 1].t - samples[k].t > 1e-4:
            asks.append(middle)
    return sorted(asks)


def _spread(pairs: list, count: int) -> list:
    """Return ``count`` items of ``pairs`` spread evenly over it, ends included."""
    picks = np.round(np.linspace(0, len(pairs) - 1, count)).astype(int)
    return [pairs[i] for i in picks]


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
    """Return the (S, S) matrix of distances between every two samples (upper triangle filled).

    A negligible share of the distance in t is added, so that among equally good choices (frames
    that do not change at all) the one most even in t wins.
    """
    count = len(samples)
    ts = np.array([s.t for s in samples])
    matrix = 1e-9 * np.abs(ts[None, :] - ts[:, None])
    shapes = {np.shape(s.features) for s in samples}
    if len(shapes) == 1 and len(next(iter(shapes))) >= 2:
        # `oklab_distance` of one sample against all later ones at once: the same arithmetic per
        # pair (and so the same bits), without a Python call per pair (300 per segment).
        flat = np.stack([s.features for s in samples]).reshape(count, -1, shapes.pop()[-1])
        for i in range(count - 1):
            matrix[i, i + 1 :] += np.sqrt(((flat[i] - flat[i + 1 :]) ** 2).sum(-1)).mean(-1)
        return np.triu(matrix)
    for i in range(count):
        for j in range(i + 1, count):
            matrix[i, j] += oklab_distance(samples[i].features, samples[j].features)
    return np.triu(matrix)


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

    The palette of the final GIF is fitted on the final frames, which are not known while the
    passes run. So the palette is first fitted on the first batch (keyframes and coarse frames,
    which span the morph's colours) and every later frame is mapped onto that same palette, so
    distances from different passes stay comparable and palette quantisation and dithering (the
    jumps a viewer actually sees) are part of the measurement. For the final choice `refit` fits
    the palette on the chosen frames exactly as the pipeline will.

    Even spacing comes back to the same choices and frames often (a third of the fits and
    measurements of a default morph repeat one), so both are remembered: a palette by the frames
    it was fitted on, a frame's measurement by palette and dither method; on a fixed grid and a
    palette with room for transparency a frame is pixelated alone, so measuring only the new ones
    gives the same arrays.
    """

    def __init__(self, pixelate_config, exact_images: Sequence[Any] = ()):
        self.config = pixelate_config
        self.fixed: Any = None  # the config with the fitted palette (a PixelateConfig)
        self.exact_images = list(exact_images)  # image keyframes: kept exactly, as `pixelate_frames(exact=)` does
        # Keyed by id(); the values keep the keyed objects alive, so an id is never reused meanwhile.
        self._fits: dict[tuple[int, ...], tuple[list[Any], Any]] = {}
        self._dithered: dict[tuple[int, str], Any] = {}  # the fixed palette's config with a dither method
        self._measured: dict[int, dict[int, tuple[Any, np.ndarray]]] = {}

    def _exact(self, images: list[Any]) -> list[int]:
        return [i for i, image in enumerate(images) if any(image is kept for kept in self.exact_images)]

    def refit(self, images: list[Any]) -> None:
        """Fit the palette on ``images`` (as `pixelate_frames` does) and measure with it from now on."""
        from ..pixelate import pixelate_frames

        key = tuple(map(id, images))
        if key not in self._fits:
            art = pixelate_frames(images, self.config, exact=self._exact(images))
            palette = art.palette if art.transparent_index is None else np.delete(art.palette, art.transparent_index, 0)
            self._fits[key] = (list(images), dataclasses.replace(self.config, palette=np.asarray(palette), colors=None))
        self.fixed = self._fits[key][1]

    def __call__(self, images: list[Any]) -> list[np.ndarray]:
        """Return one OKLab array per image (pixel-art size, transparency on white)."""
        from ..pixelate import pixelate_frames

        if self.fixed is None:
            self.refit(images)
        # The dither depends on how many frames are pixelated together: measure the new ones with
        # the method the whole list gets.
        method = self.fixed.dither_for(len(images))
        key = (id(self.fixed), method)
        if key not in self._dithered:
            self._dithered[key] = dataclasses.replace(self.fixed, dither=method)
        config = self._dithered[key]
        if config.detect_grid or len(config.palette_rgb) >= 256:
            # A detected grid, or a full palette cut down where frames have transparency, depends on all frames.
            return list(oklab_frames(pixelate_frames(images, config, exact=self._exact(images)).images))
        measured = self._measured.setdefault(id(config), {})
        new = list({id(image): image for image in images if id(image) not in measured}.values())
        if new:
            arrays = oklab_frames(pixelate_frames(new, config, exact=self._exact(new)).images)
            measured.update({id(image): (image, array) for image, array in zip(new, arrays, strict=True)})
        return [measured[id(image)][1] for image in images]
