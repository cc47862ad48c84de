"""Shape-aware starts: two drawings' pixels moved into each other by optimal transport, and the
in-betweens of the bundled model started from them."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pixelgif.models import backend_of
from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.morph import MorphConfig, MorphPipeline
from pixelgif.morph.shapes import start_timestep, transport
from pixelgif.settings import read_settings


def _drawing(box: tuple[int, int, int, int], colour, size: int = 16) -> Image.Image:
    """Return an RGBA drawing: the rectangle ``box`` (x0, y0, x1, y1) filled with ``colour`` on a clear background."""
    array = np.zeros((size, size, 4), np.uint8)
    array[..., :3] = 255
    x0, y0, x1, y1 = box
    array[y0:y1, x0:x1] = (*colour, 255)
    return Image.fromarray(array, "RGBA")


def _opaque(image: Image.Image) -> np.ndarray:
    return np.asarray(image)[..., 3] >= 128


def test_the_ends_of_the_transport_are_the_two_drawings():
    tall = _drawing((2, 1, 6, 15), (220, 40, 40))  # 4 x 14 = 56 pixels, red, on the left
    wide = _drawing((5, 9, 15, 13), (40, 60, 220))  # 10 x 4 = 40 pixels, blue, lower right
    moved = transport(tall, wide)
    assert moved is not None and moved.counts == (56, 40)
    assert moved.source_mass.sum() == pytest.approx(1.0) and moved.target_mass.sum() == pytest.approx(1.0)
    # Every pixel of each drawing holds one pixel's worth of mass at its own end.
    for points, mass, count in ((moved.source, moved.source_mass, 56), (moved.target, moved.target_mass, 40)):
        cells = points[:, 1] * 16 + points[:, 0]
        assert len(np.unique(cells)) == count
        assert np.allclose(np.bincount(cells.astype(int), weights=mass)[np.unique(cells).astype(int)], 1 / count)
    assert np.array_equal(np.asarray(moved.at(0.0)), np.asarray(tall))
    assert np.array_equal(np.asarray(moved.at(1.0)), np.asarray(wide))


def test_an_in_between_is_one_shape_moving_across_not_two_fading():
    left = _drawing((1, 6, 5, 10), (220, 40, 40))  # a 4 x 4 red square on the left
    right = _drawing((11, 6, 15, 10), (40, 60, 220))  # the same square, blue, on the right
    half = transport(left, right).at(0.5)
    opaque = _opaque(half)
    assert opaque.sum() == 16  # the area is kept
    xs = np.nonzero(opaque)[1]
    assert xs.min() >= 5 and xs.max() <= 10  # in between the two squares, not at either end
    colour = np.asarray(half)[opaque][:, :3].astype(int).mean(axis=0)
    assert abs(colour[0] - colour[2]) < 60  # red and blue mixed, as purple


def test_area_follows_the_two_drawings_and_there_are_no_holes():
    small = _drawing((6, 6, 10, 10), (30, 160, 60))  # 16 pixels
    big = _drawing((2, 2, 14, 14), (30, 160, 60))  # 144 pixels
    moved = transport(small, big)
    for t in (0.25, 0.5, 0.75):
        opaque = _opaque(moved.at(t))
        assert opaque.sum() == round((1 - t) * 16 + t * 144)
        # A growing square stays one piece with nothing see-through inside it.
        assert ndimage.label(opaque)[1] == 1
        assert np.array_equal(ndimage.binary_fill_holes(opaque), opaque)


def test_only_a_picture_with_opaque_pixels_has_something_to_move():
    from pixelgif.morph.shapes import has_pixels

    assert has_pixels(_drawing((2, 2, 5, 5), (200, 30, 30)))
    assert not has_pixels(Image.new("RGBA", (16, 16), (255, 255, 255, 0)))
    assert not has_pixels(Image.new("RGBA", (16, 16), (255, 0, 0, 100)))  # faint: below the opaque threshold


def test_the_transport_is_deterministic_and_needs_something_drawn():
    a = _drawing((2, 3, 9, 12), (200, 120, 30))
    b = _drawing((6, 1, 14, 6), (90, 30, 160))
    first, second = transport(a, b).at(0.4), transport(a, b).at(0.4)
    assert np.array_equal(np.asarray(first), np.asarray(second))
    empty = Image.new("RGBA", (16, 16), (255, 255, 255, 0))
    assert transport(a, empty) is None
    with pytest.raises(ValueError, match="same size"):
        transport(a, _drawing((1, 1, 3, 3), (0, 0, 0), size=8))
    with pytest.raises(ValueError, match="t must be between 0 and 1"):
        transport(a, b).at(1.5)


def test_the_start_noise_is_least_next_to_the_keyframes_and_most_midway():
    levels = [start_timestep(t, 0.7) for t in (0.05, 0.25, 0.5, 0.75, 0.95)]
    assert levels[0] < levels[1] < levels[2] and levels[2] > levels[3] > levels[4]
    assert levels[2] == round(0.7 * 999)
    assert start_timestep(0.001, 0.7) >= 1


@pytest.fixture(scope="module")
def bundled_engine():
    return MorphPipeline(backend_of(load_bundled_pipeline()), progress=False)


# Two sprite-library drawings (the bundled model's library): in-betweens start from their moved pixels.
PROMPTS = ["a rocket", "a pencil"]


def test_shape_started_morphs_keep_the_keyframes_and_are_deterministic(bundled_engine):
    config = MorphConfig(prompts=PROMPTS, frames=4, steps=2, spacing="linear", seed=7)
    first, second = bundled_engine(config), bundled_engine(config)
    assert len(first.frames) == 5 and set(first.library) == {0, 1}
    for a, b in zip(first.frames, second.frames, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    plain = bundled_engine(MorphConfig(prompts=PROMPTS, frames=4, steps=2, spacing="linear", seed=7, shapes=0))
    for k in (0, 4):  # the keyframes are the library drawings either way
        assert np.array_equal(np.asarray(first.frames[k]), np.asarray(plain.frames[k]))
    assert all(
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(first.frames[1:4], plain.frames[1:4], strict=True)
    )
    other = bundled_engine(MorphConfig(prompts=PROMPTS, frames=4, steps=2, spacing="linear", seed=8))
    assert not np.array_equal(np.asarray(first.frames[2]), np.asarray(other.frames[2]))


def test_even_spacing_places_every_frame_and_reports_progress_to_the_end(bundled_engine):
    seen = []
    config = MorphConfig(prompts=PROMPTS, frames=4, steps=2, seed=7)  # even spacing: several render passes
    result = bundled_engine(config, callback=lambda done, total: seen.append((done, total)))
    assert len(result.frames) == len(result.pixel_frames) == config.num_frames == 5
    assert [frame.t for frame in result.plan][1:-1] == sorted(frame.t for frame in result.plan[1:-1])
    assert seen and seen[-1][0] == seen[-1][1] == result.renders - 2  # the two drawings are not rendered
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))


def test_shape_started_in_betweens_take_one_evaluation_a_step_unless_guided(bundled_engine, monkeypatch):
    samples: list[int] = []
    real = bundled_engine._predict_noise
    monkeypatch.setattr(bundled_engine, "_predict_noise", lambda x, t, c: samples.append(len(x)) or real(x, t, c))
    base = dict(prompts=PROMPTS, frames=4, steps=2, spacing="linear", seed=7)
    unguided = bundled_engine(MorphConfig(**base))  # shape_guidance 1: no classifier-free guidance
    counts = [sum(samples)]
    samples.clear()
    guided = bundled_engine(MorphConfig(**base, shape_guidance=None))  # the run's guidance, as before
    counts.append(sum(samples))
    # The two keyframes' inversion is shared (remembered); every in-between step costs twice the samples guided.
    assert counts[1] == 2 * counts[0] > 0
    assert not np.array_equal(np.asarray(unguided.frames[2]), np.asarray(guided.frames[2]))
    with pytest.raises(ValueError, match="shape guidance must be a number"):
        MorphConfig(prompts=PROMPTS, shape_guidance=-1)


def test_a_shape_started_in_between_keeps_one_outline_between_the_two(bundled_engine):
    config = MorphConfig(prompts=PROMPTS, frames=2, steps=2, spacing="linear", seed=7, vivid=False)
    result = bundled_engine(config)
    a, middle, b = (_opaque(frame) for frame in result.frames)
    # Its outline is near the moved drawings' (not the union of the two: a double exposure).
    assert middle.sum() < 0.8 * (a | b).sum()  # 0.73 here; 0.86 with shapes=0


def test_a_keyframe_the_model_draws_morphs_like_a_drawing(bundled_engine, monkeypatch):
    """The model's keyframe is rendered first (the same picture as before) and its in-betweens start
    from moved pixels, unguided: far fewer model evaluations than rendering them from noise."""
    from pixelgif.models.bundled.pipeline import PixelSpritePipeline

    samples: list[int] = []
    real = PixelSpritePipeline.predict_noise
    monkeypatch.setattr(PixelSpritePipeline, "predict_noise",
                        lambda self, x, *rest: samples.append(len(x)) or real(self, x, *rest))  # fmt: skip
    # "a swirl of abstract colours" is drawn by the model (no library drawing).
    base = dict(prompts=["a rocket", "a swirl of abstract colours"], frames=3, steps=2, spacing="linear", seed=1)
    bundled_engine.__dict__.pop("_inversions", None)
    started = bundled_engine(MorphConfig(**base))
    counts = [sum(samples)]
    samples.clear()
    bundled_engine.__dict__.pop("_inversions", None)
    before = bundled_engine(MorphConfig(**base, shapes_for_renders=False))
    counts.append(sum(samples))
    assert len(started.library) == 1 and 1 not in started.library
    keys = [started.keyframe_indices[1], before.keyframe_indices[1]]
    assert np.array_equal(np.asarray(started.frames[keys[0]]), np.asarray(before.frames[keys[1]]))  # the same render
    assert not np.array_equal(np.asarray(started.frames[1]), np.asarray(before.frames[1]))
    assert counts[0] < 0.75 * counts[1]
    # Without shape starts (or with --no-shapes-for-renders) such a segment renders from noise, as before.
    off = bundled_engine(MorphConfig(**base, shapes=0))
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(off.frames, before.frames, strict=True))


def test_settings_files_from_before_shape_starts_replay_without_them(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "pixelgif-settings", "version": 2, "morph": {"prompts": ["a", "b"]}}))
    assert read_settings(old)["morph"]["shapes"] == 0.0
    assert read_settings(old)["morph"]["shape_guidance"] is None  # the run's guidance, as then
    assert read_settings(old)["morph"]["shapes_for_renders"] is False
    assert MorphConfig(prompts=["a", "b"]).shapes_for_renders is True
    with pytest.raises(ValueError, match="shapes for renders"):
        MorphConfig(prompts=["a", "b"], shapes_for_renders="no")
    assert MorphConfig(prompts=["a", "b"]).shapes == 0.7
    with pytest.raises(ValueError, match="shapes must be a number"):
        MorphConfig(prompts=["a", "b"], shapes=1.5)


def test_equal_counts_are_the_least_cost_permutation():
    """With as many pixels on both sides, the matching is the optimal transport of uniform masses:
    no other one-to-one matching costs less (checked against every permutation of a tiny case)."""
    a = _drawing((1, 1, 3, 4), (200, 40, 40), size=8)  # 6 pixels
    b = _drawing((4, 2, 7, 4), (40, 40, 200), size=8)  # 6 pixels
    moved = transport(a, b)
    assert moved is not None and len(moved.source) == 6

    def cost(src, dst):
        return float((((src - dst) / 8) ** 2).sum())  # the colours are the same on every pair

    best = min(cost(moved.source, moved.target[list(order)]) for order in itertools.permutations(range(6)))
    assert cost(moved.source, moved.target) == pytest.approx(best)


def test_the_solver_loads_without_scipy_optimize_and_agrees_with_it():
    """``import scipy.optimize`` costs most of a second of a cold morph; the solver is loaded alone."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from pixelgif.morph import shapes; "
        "cost = np.random.default_rng(0).random((40, 60)); r, c = shapes._linear_sum_assignment(cost); "
        "assert 'scipy.optimize' not in sys.modules, 'scipy.optimize imported'; "
        "from scipy.optimize import linear_sum_assignment; r2, c2 = linear_sum_assignment(cost); "
        "assert (r == r2).all() and (c == c2).all()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
