"""Smoothness metrics on hand-made frame sequences, and the --report plot."""

import numpy as np
import pytest
from PIL import Image

from pixelgif.errors import PixelgifError
from pixelgif.morph.quality import (
    frame_distances,
    gini,
    max_mean_ratio,
    measure_frames,
    oklab_frames,
    plot_quality,
    report_path,
    smoothness,
)


def grey(level, size=8):
    """Return a uniform grey RGB frame."""
    return np.full((size, size, 3), level, dtype=np.uint8)


def test_identical_frames_have_distance_zero():
    frames = [grey(120)] * 5
    distances = frame_distances(frames)
    assert distances.shape == (4,) and np.all(distances == 0)
    quality = measure_frames(frames)
    assert quality.overall.mean == 0 and quality.overall.smoothness == 1.0 and quality.overall.max_mean == 1.0


def test_single_jump_has_low_smoothness():
    frames = [grey(0)] * 10 + [grey(255)]
    stats = measure_frames(frames).overall
    assert stats.smoothness == pytest.approx(1 / 10)  # one step of ten carries all the change
    assert stats.max_mean == pytest.approx(10.0)
    assert stats.distances[-1] == pytest.approx(1.0, abs=1e-3)  # black to white is 1 in OKLab L


def test_equal_steps_have_smoothness_one():
    # Equal steps in OKLab lightness: build the greys from L values.
    from pixelgif.pixelate.color import oklab_to_srgb8

    lab = np.zeros((6, 1, 1, 3), np.float32)
    lab[:, 0, 0, 0] = np.linspace(0.2, 0.8, 6)
    frames = [np.repeat(np.repeat(oklab_to_srgb8(f), 4, 0), 4, 1) for f in lab]
    stats = measure_frames(frames).overall
    assert stats.smoothness == pytest.approx(1.0, abs=0.01)
    assert stats.max_mean == pytest.approx(1.0, abs=0.03)
    assert stats.mean == pytest.approx(0.12, abs=0.005)


def test_gini_and_ratios_by_hand():
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    assert smoothness([1, 3]) == pytest.approx(1 - 0.25)  # sum |xi - xj| = 4, 2 n^2 mean = 16
    assert max_mean_ratio([1, 3]) == 1.5
    with pytest.raises(ValueError, match="non-negative"):
        gini([-1, 2])


def test_segments_follow_keyframes_and_loop_closes_the_circle():
    frames = [grey(v) for v in (100, 110, 120, 130, 250, 255)]
    quality = measure_frames(frames, keyframes=[0, 3], loop=True)
    assert len(quality.overall.distances) == 6  # the last step goes back to frame 0
    assert [len(s.distances) for s in quality.segments] == [3, 3]
    assert quality.keyframe_steps == [0, 3]
    assert quality.segments[0].smoothness > 0.95  # 100 -> 110 -> 120 -> 130: nearly even
    assert quality.segments[1].smoothness < 0.7  # 130 -> 250, then small, then back to 100
    not_looped = measure_frames(frames, keyframes=[0, 3])
    assert len(not_looped.overall.distances) == 5


def test_transparency_is_seen_on_white_and_palette_frames_work():
    transparent = np.zeros((4, 4, 4), np.uint8)  # transparent black looks white
    white = grey(255, 4)
    assert frame_distances([transparent, white])[0] == pytest.approx(0.0, abs=1e-6)
    p = Image.new("P", (4, 4), 0)
    p.putpalette([255, 0, 0, 0, 0, 255])
    q = p.copy()
    q.paste(1, (0, 0, 4, 2))  # half the pixels turn blue
    red, blue = oklab_frames([np.array([[[255, 0, 0]], [[0, 0, 255]]], np.uint8)])[0, :, 0]
    red_blue = float(np.linalg.norm(red - blue))
    assert frame_distances([p, q])[0] == pytest.approx(red_blue / 2, rel=1e-4)


def test_unknown_metric_and_missing_lpips_are_clear():
    with pytest.raises(ValueError, match="choose one of: oklab, lpips"):
        frame_distances([grey(0), grey(1)], metric="psnr")
    try:
        import lpips  # noqa: F401
    except ImportError:
        with pytest.raises(PixelgifError, match=r"pip install \"pixelgif\[lpips\]\""):
            frame_distances([grey(0), grey(1)], metric="lpips")


def test_plot_is_written_as_png(tmp_path):
    pytest.importorskip("matplotlib")
    quality = measure_frames([grey(v) for v in (0, 40, 50, 60, 200)], keyframes=[0, 2])
    path = plot_quality(quality, tmp_path / "x.report.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.report.png"]  # no temporary file left
    assert report_path("out/anim.gif").as_posix() == "out/anim.report.png"
    assert quality.to_dict()["segments"][1]["max_mean"] > 1.5
