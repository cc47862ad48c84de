"""Even spacing on a synthetic renderer whose picture is a known non-linear function of t."""

import dataclasses
import itertools

import numpy as np
import pytest

from pixelgif.morph.quality import max_mean_ratio, smoothness
from pixelgif.morph.schedule import frame_schedule, keyframe_indices
from pixelgif.morph.spacing import easing_weights, even_frames, pchip, place_targets, render_budget, select_even


class SyntheticRenderer:
    """'Renders' a 1-pixel feature whose value moves from keyframe ``start`` to ``end`` as ``curve(t)``.

    The distance between two renders is then |end - start| * |curve(t1) - curve(t2)|: with a
    steep curve, linear steps in t are very uneven steps in the picture.
    """

    def __init__(self, curve):
        self.curve = curve
        self.calls: list[int] = []

    def __call__(self, plans):
        self.calls.append(len(plans))
        return [np.array([[[p.start + (p.end - p.start) * self.curve(p.t), 0.0, 0.0]]]) for p in plans]

    @property
    def renders(self):
        return sum(self.calls)


def features(images):
    return list(images)


def steps(images, loop=False):
    values = [float(image[0, 0, 0]) for image in images]
    if loop:
        values.append(values[0])
    return np.abs(np.diff(values))


def late_change(t):
    return t**4  # nothing happens for a while, then everything at once


def sigmoid_jump(t):
    return 1 / (1 + np.exp(-40 * (t - 0.63)))


@pytest.mark.parametrize("curve, least_smoothness, most_max_mean", [(late_change, 0.95, 1.2), (sigmoid_jump, 0.8, 1.8)],
                         ids=["t^4", "sigmoid"])  # fmt: skip
def test_recovers_nearly_equal_steps(curve, least_smoothness, most_max_mean):
    linear = steps([curve(p.t) * np.ones((1, 1, 3)) for p in frame_schedule(2, 12)])
    renderer = SyntheticRenderer(curve)
    spaced = even_frames(2, 12, False, "linear", renderer, features)
    even = steps(spaced.images)
    assert len(spaced.images) == len(spaced.plan) == 13
    assert smoothness(even) > least_smoothness and max_mean_ratio(even) < most_max_mean
    assert smoothness(even) > smoothness(linear) + 0.25
    assert spaced.renders == renderer.renders <= render_budget(13) == 19


def test_keyframe_chain_and_loop_keep_keyframes_exact_and_in_place():
    renderer = SyntheticRenderer(late_change)
    spaced = even_frames(3, 6, True, "linear", renderer, features)
    linear_plan = frame_schedule(3, 6, loop=True)
    assert len(spaced.plan) == len(linear_plan) == 18
    assert keyframe_indices(spaced.plan) == keyframe_indices(linear_plan) == [0, 6, 12]
    for index, keyframe in zip((0, 6, 12), range(3), strict=True):
        frame = spaced.plan[index]
        assert (frame.start, frame.t) == (keyframe, 0.0)
        assert spaced.images[index][0, 0, 0] == keyframe  # exactly the keyframe's own render
    for a, b in itertools.pairwise(spaced.plan):
        if b.start == a.start:
            assert b.t > 0 and a.t < b.t < 1  # strictly inside, in order
    # Each segment on its own is even (segments differ in total change: 1, 1 and 2).
    for first in (0, 6, 12):
        segment = steps(spaced.images + spaced.images[:1])[first : first + 6]
        assert max_mean_ratio(segment) < 1.6
    assert spaced.renders == renderer.renders <= render_budget(18)
    assert len(renderer.calls) <= 4  # few, batched render calls: keyframes + coarse, targets, refinements


def test_not_looped_chain_ends_on_the_last_keyframe():
    renderer = SyntheticRenderer(sigmoid_jump)
    spaced = even_frames(3, 4, False, "linear", renderer, features)
    assert len(spaced.plan) == 9 and spaced.plan[-1].start == spaced.plan[-1].end == 2
    assert spaced.images[-1][0, 0, 0] == 2 and spaced.images[4][0, 0, 0] == 1
    assert spaced.renders == renderer.renders <= render_budget(9)


def test_easing_shapes_the_steps():
    renderer = SyntheticRenderer(late_change)
    spaced = even_frames(2, 8, False, "ease-in-out", renderer, features)
    even = steps(spaced.images)
    weights = easing_weights(8, "ease-in-out")
    assert even[0] < even[4] and even[-1] < even[4]  # slow near the keyframes, fast in the middle
    assert np.allclose(even / even.sum(), weights, atol=0.05)


def test_no_change_at_all_still_gives_every_frame():
    def still(plans):
        return [np.zeros((1, 1, 3)) for _ in plans]

    spaced = even_frames(2, 5, False, "linear", still, features)
    assert len(spaced.plan) == 6 and spaced.renders <= render_budget(6)
    assert [p.t for p in spaced.plan[:5]] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8], abs=0.11)


def test_select_even_and_place_targets_by_hand():
    points = np.array([0.0, 0.1, 0.2, 0.5, 0.55, 0.9, 1.0])
    matrix = np.abs(points[None, :] - points[:, None])
    assert select_even(matrix, 2, np.full(2, 0.5)) == [0, 3, 6]
    assert select_even(matrix, 3, np.full(3, 1 / 3)) in ([0, 2, 4, 6], [0, 2, 5, 6])
    with pytest.raises(ValueError, match="need at least 4 samples"):
        select_even(matrix[:3, :3], 3, np.full(3, 1 / 3))
    ts = np.array([0.0, 0.5, 1.0])
    cumulative = np.array([0.0, 0.0, 4.0])  # all the change in the second half
    targets = place_targets(ts, cumulative, np.full(4, 0.25))
    assert np.all(np.diff(targets) > 0) and targets[0] > 0.5 and targets[-1] < 1
    # The change speeds up from a standstill at t = 0.5: targets sit later than a straight line puts them.
    assert np.all(targets >= np.array([0.625, 0.75, 0.875]))
    assert place_targets(ts, np.array([0.0, 2.0, 4.0]), np.full(4, 0.25)) == pytest.approx([0.25, 0.5, 0.75], abs=1e-3)


def test_pchip_is_scipys_curve():
    """The hand-written PCHIP (scipy.interpolate costs most of a second to import) draws scipy's curve."""
    from scipy.interpolate import PchipInterpolator

    rng = np.random.default_rng(3)
    cases = [
        (np.array([0.0, 1.0]), np.array([0.0, 2.0])),  # two points: a line
        (np.array([0.0, 0.2, 0.7, 1.0]), np.array([0.0, 0.1, 0.1, 3.0])),  # a flat stretch, then a jump
        (np.array([0.0, 0.5, 1.0]), np.array([1.0, -1.0, 2.0])),  # a local extremum
        (np.array([0.0, 0.1, 0.15, 1.0]), np.array([0.0, 5.0, 5.1, 5.2])),  # steep start
    ]
    for _ in range(20):
        x = np.sort(rng.choice(np.linspace(0, 1, 50), size=rng.integers(3, 9), replace=False))
        cases.append((x, np.cumsum(rng.random(len(x)) * (rng.random(len(x)) > 0.3))))
    for x, y in cases:
        at = np.linspace(x[0], x[-1], 301)
        assert np.allclose(pchip(x, y, at), PchipInterpolator(x, y)(at), rtol=1e-10, atol=1e-12), (x, y)


def _gradient_images(count: int, seed: int = 0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        cells = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
        cells[..., 3] = np.where(rng.random((16, 16)) < 0.2, 0, 255)  # some transparency
        images.append(Image.fromarray(cells.repeat(8, 0).repeat(8, 1), "RGBA"))  # 8-pixel cells
    return images


@pytest.mark.parametrize("detect_grid", [False, True])
def test_viewer_features_remembered_give_what_measuring_every_list_whole_gives(detect_grid):
    # The same lists, fits and single frames in the order even spacing asks for them: every answer
    # must be the arrays of pixelating that very list on the current palette, as without memory.
    from pixelgif.morph.quality import oklab_frames
    from pixelgif.morph.spacing import ViewerFeatures
    from pixelgif.pixelate import PixelateConfig, pixelate_frames

    config = PixelateConfig(colors=8, detect_grid=True) if detect_grid else PixelateConfig(pixel_size=8, colors=8)
    images = _gradient_images(8)
    features = ViewerFeatures(config)
    asks = [("measure", images[:4]), ("measure", images[2:6]), ("measure", [images[6]]), ("refit", images[:3]),
            ("measure", images), ("refit", images[4:]), ("measure", images[3:7]), ("refit", images[:3]),
            ("measure", [images[1]]), ("measure", images[:5])]  # fmt: skip
    for what, subset in asks:
        if what == "refit":
            features.refit(subset)
            continue
        got = features(subset)
        whole = pixelate_frames(
            subset, dataclasses.replace(features.fixed, dither=features.fixed.dither_for(len(subset)))
        )
        for a, b in zip(got, oklab_frames(whole.images), strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(features._fits) == 3  # the first fit, then two new ones: the third refit is remembered


def test_the_distance_matrix_is_oklab_distance_of_every_pair_bit_for_bit():
    from pixelgif.morph.quality import oklab_distance
    from pixelgif.morph.spacing import Sample, _distance_matrix

    rng = np.random.default_rng(3)
    for shape in [(32, 32, 3), (8, 12, 3), (5,)]:  # images all at once; flat vectors pair by pair
        samples = [Sample(t=i / 9, image=None, features=rng.random(shape)) for i in range(10)]
        matrix = _distance_matrix(samples)
        for i, j in itertools.combinations(range(len(samples)), 2):
            expected = 1e-9 * (samples[j].t - samples[i].t) + oklab_distance(samples[i].features, samples[j].features)
            assert matrix[i, j] == expected
        assert not np.tril(matrix).any()
